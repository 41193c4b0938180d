using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Kernels;

namespace DeepInterest.Engine;

public static partial class F
{
    /// <summary>
    /// An LSTM layer over x [B, T, I] with lengths [B] and packed-sequence semantics (state frozen
    /// after each row's length, zero outputs there, last state at step len − 1). PyTorch layout:
    /// W_ih [4H, I], W_hh [4H, H], biases [4H], gate blocks (i, f, g, o):
    /// c' = σ(f)⊙c + σ(i)⊙tanh(g), h' = σ(o)⊙tanh(c'). Initial h, c are zero.
    /// </summary>
    public static RnnResult Lstm(Tensor x, IntTensor lengths, Tensor wIh, Tensor wHh, Tensor? bIh, Tensor? bHh)
    {
        if (x.Rank != 3) throw new ArgumentException($"Lstm: x must be [B, T, I], got {x.Shape}.");
        int b = x.Shape[0], t = x.Shape[1], inF = x.Shape[2], h = wHh.Rank == 2 ? wHh.Shape[1] : -1, g4 = 4 * h;
        if (wHh.Rank != 2 || wHh.Shape[0] != g4) throw new ArgumentException($"Lstm: weight_hh must be [4H, H], got {wHh.Shape}.");
        if (wIh.Rank != 2 || wIh.Shape[0] != g4 || wIh.Shape[1] != inF) throw new ArgumentException($"Lstm: weight_ih must be [{g4}, {inF}], got {wIh.Shape}.");
        if (lengths.Size != b) throw new ArgumentException($"Lstm: {lengths.Size} lengths for batch {b}.");
        var lens = lengths.Span;
        foreach (var l in lens) if (l < 0 || l > t) throw new ArgumentException($"Lstm: length {l} outside [0, {t}].");
        var gi = Tensor.Empty(new Shape(b, t, g4));
        var gis = gi.Span;
        if (bIh is not null) for (int r = 0; r < b * t; r++) bIh.Span.CopyTo(gis.Slice(r * g4, g4));
        Gemm.Sgemm(false, true, b * t, g4, inF, 1f, x.Span, inF, wIh.Span, inF, bIh is null ? 0f : 1f, gis, g4);
        var hs = Tensor.ZerosTemp(new Shape(t + 1, b, h));     // h before each step, time-major
        var cs = Tensor.ZerosTemp(new Shape(t + 1, b, h));     // c before each step
        var acts = Tensor.Empty(new Shape(t, b, 5 * h));       // σ(i), σ(f), tanh(g), σ(o), tanh(c')
        var gh = Tensor.Empty(new Shape(b, g4));
        var outputs = Tensor.ZerosTemp(new Shape(b, t, h));
        var last = Tensor.Empty(new Shape(b, h));
        var hss = hs.Span; var css = cs.Span; var acs = acts.Span; var ghs = gh.Span; var outs = outputs.Span;
        for (int s = 0; s < t; s++)
        {
            var hPrev = hss.Slice(s * b * h, b * h); var hNext = hss.Slice((s + 1) * b * h, b * h);
            var cPrev = css.Slice(s * b * h, b * h); var cNext = css.Slice((s + 1) * b * h, b * h);
            if (bHh is not null) for (int r = 0; r < b; r++) bHh.Span.CopyTo(ghs.Slice(r * g4, g4));
            Gemm.Sgemm(false, true, b, g4, h, 1f, hPrev, h, wHh.Span, h, bHh is null ? 0f : 1f, ghs, g4);
            for (int r = 0; r < b; r++)
            {
                if (s >= lens[r])
                {
                    hPrev.Slice(r * h, h).CopyTo(hNext.Slice(r * h, h));
                    cPrev.Slice(r * h, h).CopyTo(cNext.Slice(r * h, h));
                    continue;
                }
                var gir = gis.Slice((r * t + s) * g4, g4); var ghr = ghs.Slice(r * g4, g4);
                var a = acs.Slice((s * b + r) * 5 * h, 5 * h);
                for (int j = 0; j < h; j++)
                {
                    float ig = Sigmoid1(gir[j] + ghr[j]), fg = Sigmoid1(gir[h + j] + ghr[h + j]);
                    float gg = MathF.Tanh(gir[2 * h + j] + ghr[2 * h + j]), og = Sigmoid1(gir[3 * h + j] + ghr[3 * h + j]);
                    float c = fg * cPrev[r * h + j] + ig * gg, tc = MathF.Tanh(c), hv = og * tc;
                    cNext[r * h + j] = c; hNext[r * h + j] = hv; outs[(r * t + s) * h + j] = hv;
                    a[j] = ig; a[h + j] = fg; a[2 * h + j] = gg; a[3 * h + j] = og; a[4 * h + j] = tc;
                }
            }
        }
        hss.Slice(t * b * h, b * h).CopyTo(last.Span);
        if (Tape.GradEnabled && (x.RequiresGrad || wIh.RequiresGrad || wHh.RequiresGrad || (bIh?.RequiresGrad ?? false) || (bHh?.RequiresGrad ?? false)))
        {
            var node = LstmNode.Rent();
            node.X = x; node.Lengths = lengths; node.WIh = wIh; node.WHh = wHh; node.BIh = bIh; node.BHh = bHh;
            node.Hs = hs; node.Cs = cs; node.Acts = acts; node.DLast = Tensor.ZerosTemp(new Shape(b, h));
            Tape.Record(node, outputs);
            RnnLastNode.Record(node.DLast, outputs, last);
        }
        return new RnnResult(outputs, last);
    }

    private sealed class LstmNode : Node<LstmNode>
    {
        public Tensor X = null!, WIh = null!, WHh = null!, Hs = null!, Cs = null!, Acts = null!, DLast = null!;
        public Tensor? BIh, BHh;
        public IntTensor Lengths = null!;
        protected override void Clear() { X = WIh = WHh = Hs = Cs = Acts = DLast = null!; BIh = BHh = null; Lengths = null!; }

        // dc_tot = dc + dh·o·(1 − tanh²c'); pre-activation gradients: di·i(1−i), df·f(1−f), dg·(1−g²), do·o(1−o)
        // with di = dc_tot·g, df = dc_tot·c_prev, dg = dc_tot·i, do = dh·tanh c'; dc_prev = dc_tot·f.
        public override void Backward()
        {
            int b = X.Shape[0], t = X.Shape[1], inF = X.Shape[2], h = WHh.Shape[1], g4 = 4 * h;
            var lens = Lengths.Span; var gOut = Output.Grad!.Span;
            var dGI = Tensor.ZerosTemp(new Shape(b, t, g4));
            var dGH = Tensor.Empty(new Shape(b, g4));
            var dh = Tensor.Empty(new Shape(b, h)); var dhPrev = Tensor.Empty(new Shape(b, h));
            var dc = Tensor.ZerosTemp(new Shape(b, h));
            var dgis = dGI.Span; var dghs = dGH.Span; var dhs = dh.Span; var dps = dhPrev.Span; var dcs = dc.Span;
            DLast.Span.CopyTo(dhs);
            var hss = Hs.Span; var css = Cs.Span; var acs = Acts.Span;
            Span<float> dWhh = WHh.RequiresGrad ? WHh.GradSpan() : default;
            Span<float> dBhh = BHh is { RequiresGrad: true } ? BHh.GradSpan() : default;
            for (int s = t - 1; s >= 0; s--)
            {
                bool any = false;
                dghs.Clear();
                for (int r = 0; r < b; r++)
                {
                    var dhr = dhs.Slice(r * h, h); var dpr = dps.Slice(r * h, h);
                    if (s >= lens[r]) { dhr.CopyTo(dpr); continue; }
                    any = true;
                    var a = acs.Slice((s * b + r) * 5 * h, 5 * h);
                    var cPrev = css.Slice((s * b + r) * h, h);
                    var go = gOut.Slice((r * t + s) * h, h);
                    var dgi = dgis.Slice((r * t + s) * g4, g4); var dgh = dghs.Slice(r * g4, g4);
                    for (int j = 0; j < h; j++)
                    {
                        float d = dhr[j] + go[j];
                        float ig = a[j], fg = a[h + j], gg = a[2 * h + j], og = a[3 * h + j], tc = a[4 * h + j];
                        float dct = dcs[r * h + j] + d * og * (1f - tc * tc);
                        float pi = dct * gg * ig * (1f - ig), pf = dct * cPrev[j] * fg * (1f - fg);
                        float pg = dct * ig * (1f - gg * gg), po = d * tc * og * (1f - og);
                        dgi[j] = dgh[j] = pi; dgi[h + j] = dgh[h + j] = pf; dgi[2 * h + j] = dgh[2 * h + j] = pg; dgi[3 * h + j] = dgh[3 * h + j] = po;
                        dcs[r * h + j] = dct * fg;
                        dpr[j] = 0f;
                    }
                }
                if (any)
                {
                    Gemm.Sgemm(false, false, b, h, g4, 1f, dghs, g4, WHh.Span, h, 1f, dps, h);
                    if (!dWhh.IsEmpty) Gemm.Sgemm(true, false, g4, h, b, 1f, dghs, g4, hss.Slice(s * b * h, b * h), h, 1f, dWhh, h);
                    if (!dBhh.IsEmpty) Simd.ColumnSumAdd(dghs, b, g4, dBhh);
                }
                (dh, dhPrev) = (dhPrev, dh);
                dhs = dh.Span; dps = dhPrev.Span;
            }
            if (X.RequiresGrad) Gemm.Sgemm(false, false, b * t, inF, g4, 1f, dgis, g4, WIh.Span, inF, 1f, X.GradSpan(), inF);
            if (WIh.RequiresGrad) Gemm.Sgemm(true, false, g4, inF, b * t, 1f, dgis, g4, X.Span, inF, 1f, WIh.GradSpan(), inF);
            if (BIh is { RequiresGrad: true }) Simd.ColumnSumAdd(dgis, b * t, g4, BIh.GradSpan());
        }
    }

    /// <summary>
    /// Reverses each row's real steps: y[b, s] = x[b, len_b − 1 − s] for s &lt; len_b, zeros after.
    /// Its own inverse; the backward applies the same permutation. Used for the reverse direction of
    /// bidirectional RNNs so that it starts at each row's last real step.
    /// </summary>
    public static Tensor ReverseSteps(Tensor x, IntTensor lengths)
    {
        if (x.Rank != 3 || lengths.Size != x.Shape[0]) throw new ArgumentException($"ReverseSteps: needs [B, T, E] and B lengths, got {x.Shape} and {lengths.Shape}.");
        int b = x.Shape[0], t = x.Shape[1], e = x.Shape[2];
        var y = Tensor.ZerosTemp(x.Shape);
        Permute(x.Span, y.Span, lengths.Span, b, t, e, add: false);
        if (Tape.ShouldRecord(x))
        {
            var n = ReverseNode.Rent();
            n.X = x; n.Lengths = lengths;
            Tape.Record(n, y);
        }
        return y;
    }

    private static void Permute(ReadOnlySpan<float> src, Span<float> dst, ReadOnlySpan<int> lens, int b, int t, int e, bool add)
    {
        for (int i = 0; i < b; i++)
            for (int s = 0; s < lens[i]; s++)
            {
                var from = src.Slice((i * t + lens[i] - 1 - s) * e, e); var to = dst.Slice((i * t + s) * e, e);
                if (add) System.Numerics.Tensors.TensorPrimitives.Add(to, from, to); else from.CopyTo(to);
            }
    }

    private sealed class ReverseNode : Node<ReverseNode>
    {
        public Tensor X = null!;
        public IntTensor Lengths = null!;
        protected override void Clear() { X = null!; Lengths = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            Permute(Output.Grad!.Span, X.GradSpan(), Lengths.Span, X.Shape[0], X.Shape[1], X.Shape[2], add: true);
        }
    }
}
