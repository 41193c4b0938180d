using System.Numerics.Tensors;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Kernels;

namespace DeepInterest.Engine;

/// <summary>Which recurrent cell <see cref="F.Gru"/> runs.</summary>
public enum GruKind
{
    /// <summary>PyTorch's GRU: h' = (1 − z)⊙n + z⊙h.</summary>
    Gru,
    /// <summary>DIEN's AGRU (§4.3): the attention score replaces the update gate, h' = (1 − a)·h + a·n.</summary>
    Agru,
    /// <summary>DIEN's AUGRU (§4.3): the attention scales the update gate, u' = a·u, h' = (1 − u')⊙h + u'⊙n.</summary>
    Augru,
}

/// <summary>All hidden states [B, T, H] (zero at padded steps) and each row's last real state [B, H].</summary>
public readonly record struct RnnResult(Tensor Outputs, Tensor Last);

public static partial class F
{
    /// <summary>
    /// A GRU layer over a padded batch x [B, T, I] with per-row lengths [B], with packed-sequence
    /// semantics: row b runs steps 0 … len_b − 1, its state then stops changing, outputs after it
    /// are zero and its last state is h at step len_b − 1 (h0 when len_b = 0).
    /// Parameters in PyTorch's layout: W_ih [3H, I], W_hh [3H, H], biases [3H], gate blocks (r, z, n):
    /// r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
    /// n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)).
    /// Update-gate convention: with every kind, h' = (1 − g)⊙h + g⊙n where g is the weight on the
    /// NEW candidate. PyTorch writes h' = (1 − z)⊙n + z⊙h (z weighs the old state), so for
    /// <see cref="GruKind.Gru"/> g = 1 − z. The DIEN paper writes h_t = (1 − u_t)⊙h_{t−1} + u_t⊙h̃_t,
    /// i.e. its u is our g. AGRU: g = a_t (the z block is unused). AUGRU: g = a_t·u_t with
    /// u_t = σ(W_iz x + b_iz + W_hz h + b_hz) — the z block computes the paper's u (the weight on the
    /// new state), as in the seed tutorial's and DeepCTR's AUGRU cells.
    /// Attention scores [B, T] are required for AGRU/AUGRU and receive gradients.
    /// </summary>
    public static RnnResult Gru(Tensor x, IntTensor lengths, Tensor wIh, Tensor wHh, Tensor? bIh, Tensor? bHh,
        Tensor? h0 = null, GruKind kind = GruKind.Gru, Tensor? scores = null)
    {
        if (x.Rank != 3) throw new ArgumentException($"Gru: x must be [B, T, I], got {x.Shape}.");
        int b = x.Shape[0], t = x.Shape[1], inF = x.Shape[2], h = wHh.Rank == 2 ? wHh.Shape[1] : -1;
        if (wHh.Rank != 2 || wHh.Shape[0] != 3 * h) throw new ArgumentException($"Gru: weight_hh must be [3H, H], got {wHh.Shape}.");
        if (wIh.Rank != 2 || wIh.Shape[0] != 3 * h || wIh.Shape[1] != inF) throw new ArgumentException($"Gru: weight_ih must be [{3 * h}, {inF}], got {wIh.Shape}.");
        if ((bIh is not null && bIh.Size != 3 * h) || (bHh is not null && bHh.Size != 3 * h)) throw new ArgumentException($"Gru: biases must be [{3 * h}].");
        if (lengths.Size != b) throw new ArgumentException($"Gru: {lengths.Size} lengths for batch {b}.");
        if (h0 is not null && (h0.Rank != 2 || h0.Shape[0] != b || h0.Shape[1] != h)) throw new ArgumentException($"Gru: h0 must be [{b}, {h}], got {h0.Shape}.");
        if (kind != GruKind.Gru && (scores is null || scores.Shape != new Shape(b, t)))
            throw new ArgumentException($"Gru: {kind} needs attention scores [{b}, {t}], got {scores?.Shape.ToString() ?? "none"}.");
        var lens = lengths.Span;
        foreach (var l in lens) if (l < 0 || l > t) throw new ArgumentException($"Gru: length {l} outside [0, {t}].");

        int g3 = 3 * h;
        var gi = Tensor.Empty(new Shape(b, t, g3));          // input projections of the real steps (padded ones are never read)

        var hs = Tensor.Empty(new Shape(t + 1, b, h));       // h before each step (time-major for the per-step GEMMs)
        var gates = Tensor.Empty(new Shape(t, b, 4 * h));    // r, σ(pre_z), n, W_hn h + b_hn per step
        var gh = Tensor.Empty(new Shape(b, g3));
        var outputs = Tensor.Empty(new Shape(b, t, h));     // padded steps are zeroed by the step kernels
        var last = Tensor.Empty(new Shape(b, h));
        var hss = hs.Span;
        // Rows are independent through time, so blocks of rows run all their steps on one thread:
        // one fork-join per layer instead of one per step. The recurrence visits rows sorted by
        // length (as PyTorch's packed sequences do), so a block stops at about its own rows' length
        // instead of the longest in the batch; hs, gates and gh are kept in that order. Blocks have a
        // fixed size, so every row is computed the same way whatever the thread count.
        var order = LengthOrder(lens, t);
        for (int j = 0; j < b; j++)
            if (h0 is null) hss.Slice(j * h, h).Clear(); else h0.Span.Slice(order[j] * h, h).CopyTo(hss.Slice(j * h, h));
        var blocks = new GruForwardBlocks
        {
            Step = new GruForwardRows { Gi = gi, Gh = gh, Hs = hs, Gates = gates, Out = outputs, Scores = scores, Lengths = lengths, Order = order, T = t, B = b, H = h, Kind = kind },
            WHh = wHh, BHh = bHh, Packed = PackWeight(true, g3, h, wHh),
            X = x, WIh = wIh, BIh = bIh, PackedIh = PackWeight(true, g3, inF, wIh),
        };
        RunRowBlocks(b, (long)t * b * g3 * h, ref blocks);
        for (int j = 0; j < b; j++) hss.Slice((t * b + j) * h, h).CopyTo(last.Span.Slice(order[j] * h, h));   // a state stops changing after its length
        if (Tape.ShouldRecord(x, wIh, wHh) || (bIh?.RequiresGrad ?? false) || (bHh?.RequiresGrad ?? false)
            || (h0?.RequiresGrad ?? false) || (scores?.RequiresGrad ?? false))
        {
            if (!Tape.GradEnabled) return new RnnResult(outputs, last);
            var node = GruNode.Rent();
            node.X = x; node.Lengths = lengths; node.WIh = wIh; node.WHh = wHh; node.BIh = bIh; node.BHh = bHh;
            node.H0 = h0; node.Kind = kind; node.Scores = scores; node.Hs = hs; node.Gates = gates; node.Order = order;
            node.DLast = Tensor.ZerosTemp(new Shape(b, h));
            Tape.Record(node, outputs);
            RnnLastNode.Record(node.DLast, outputs, last);
        }
        return new RnnResult(outputs, last);
    }

    private static float Sigmoid1(float v) => 1f / (1f + MathF.Exp(-v));

    /// <summary>Row indices sorted by length, longest first; rows of equal length keep their order (counting sort).</summary>
    internal static int[] LengthOrder(ReadOnlySpan<int> lens, int t)
    {
        var start = new int[t + 2];
        foreach (var l in lens) start[t - l + 1]++;
        for (int i = 1; i <= t + 1; i++) start[i] += start[i - 1];
        var order = new int[lens.Length];
        for (int r = 0; r < lens.Length; r++) order[start[t - lens[r]]++] = r;
        return order;
    }

    /// <summary>Rows per block of the recurrent loops (fixed, so results do not depend on the thread count).</summary>
    internal const int RecurrentRowBlock = 32;

    /// <summary>A recurrent weight packed once for all steps (into an arena buffer), or null when the CPU has no packed kernel.</summary>
    internal static Gemm.PackedMatrix? PackWeight(bool trans, int n, int k, Tensor w) =>
        Gemm.CanPack(n, k) ? Gemm.Pack(trans, n, k, w.Span, trans ? k : n, Tensor.Empty(new Shape(Gemm.PackedSize(n, k))).Buffer) : null;

    /// <summary>Runs a recurrent kernel over row blocks, on two or more threads when the work is worth a fork-join.</summary>
    internal static void RunRowBlocks<T>(int rows, long flops, ref T kernel) where T : struct, IRangeKernel
    {
        int blocks = (rows + RecurrentRowBlock - 1) / RecurrentRowBlock;
        if (flops >= 200_000) Par.For(blocks, 1, ref kernel);
        else kernel.Run(0, blocks);
    }

    /// <summary>All steps of a GRU for the rows of blocks [start, end): h·W_hhᵀ per step, then the gates.</summary>
    private struct GruForwardBlocks : IRangeKernel
    {
        public GruForwardRows Step;
        public Tensor WHh, X, WIh;
        public Tensor? BHh, BIh;
        public Gemm.PackedMatrix? Packed, PackedIh;

        public void Run(int start, int end)
        {
            int b = Step.B, t = Step.T, h = Step.H, g3 = 3 * h, inF = WIh.Shape[1];
            var lens = Step.Lengths.Span;
            var hss = Step.Hs.Span; var ghs = Step.Gh.Span;
            var bias = BHh is null ? default : BHh.Span;
            var biasIh = BIh is null ? default : BIh.Span;
            var xs = X.Span; var gis = Step.Gi.Span;
            for (int blk = start; blk < end; blk++)
            {
                int r0 = blk * RecurrentRowBlock, r1 = Math.Min(b, r0 + RecurrentRowBlock), m = r1 - r0, maxLen = 0;
                for (int j = r0; j < r1; j++) maxLen = Math.Max(maxLen, lens[Step.Order[j]]);
                // Input projections W_ih·x + b_ih of each row's real steps only (contiguous in x).
                for (int j = r0; j < r1; j++)
                {
                    int r = Step.Order[j], len = lens[r];
                    if (len == 0) continue;
                    var xr = xs.Slice(r * t * inF, len * inF); var gr = gis.Slice(r * t * g3, len * g3);
                    if (PackedIh is { } pi) Gemm.SgemmPacked(len, pi, 1f, xr, inF, 0f, gr, g3, biasIh);
                    else Gemm.Sgemm(false, true, len, g3, inF, 1f, xr, inF, WIh.Span, inF, 0f, gr, g3, biasIh);
                }
                for (int s = 0; s < t; s++)
                {
                    var hPrev = hss.Slice(s * b * h + r0 * h, m * h);
                    if (s >= maxLen)
                    {
                        hPrev.CopyTo(hss.Slice((s + 1) * b * h + r0 * h, m * h));
                        var outs = Step.Out.Span;
                        for (int j = r0; j < r1; j++) outs.Slice((Step.Order[j] * t + s) * h, h).Clear();
                        continue;
                    }
                    var gh = ghs.Slice(r0 * g3, m * g3);
                    if (Packed is { } pw) Gemm.SgemmPacked(m, pw, 1f, hPrev, h, 0f, gh, g3, bias);
                    else Gemm.Sgemm(false, true, m, g3, h, 1f, hPrev, h, WHh.Span, h, 0f, gh, g3, bias);
                    var step = Step;
                    step.S = s;
                    step.Run(r0, r1);
                }
            }
        }
    }

    /// <summary>One GRU step for rows [start, end): gates from the input and hidden projections, then h'.</summary>
    private struct GruForwardRows : IRangeKernel
    {
        public Tensor Gi, Gh, Hs, Gates, Out;
        public Tensor? Scores;
        public IntTensor Lengths;
        public int[] Order;            // position j of hs, gates and gh → row of the batch
        public int S, T, B, H;
        public GruKind Kind;

        public void Run(int start, int end)
        {
            int h = H, g3 = 3 * h, t = T, b = B, s = S;
            var gis = Gi.Span; var ghs = Gh.Span; var hss = Hs.Span; var gts = Gates.Span; var outs = Out.Span;
            var a = Scores is null ? default : Scores.Span;
            var lens = Lengths.Span;
            var hPrev = hss.Slice(s * b * h, b * h);
            var hNext = hss.Slice((s + 1) * b * h, b * h);
            for (int j = start; j < end; j++)
            {
                int r = Order[j];
                var hp = hPrev.Slice(j * h, h); var hn = hNext.Slice(j * h, h);
                if (s >= lens[r]) { hp.CopyTo(hn); outs.Slice((r * t + s) * h, h).Clear(); continue; }
                var gir = gis.Slice((r * t + s) * g3, g3); var ghr = ghs.Slice(j * g3, g3);
                var gt = gts.Slice((s * b + j) * 4 * h, 4 * h);
                float ar = Scores is null ? 0f : a[r * t + s];
                // [r, u] = σ(gi + gh) over 2H, n = tanh(gi_n + r ⊙ hW), h' = h + g ⊙ (n − h): element-wise
                // passes fused by hand (with H = 36 a library call per pass cost more than its arithmetic).
                var ru = gt[..(2 * h)]; var n = gt.Slice(2 * h, h); var hW = gt.Slice(3 * h, h);
                TensorPrimitives.Add(gir[..(2 * h)], ghr[..(2 * h)], ru);
                TensorPrimitives.Sigmoid(ru, ru);
                ghr.Slice(2 * h, h).CopyTo(hW);
                TensorPrimitives.MultiplyAdd(ru[..h], hW, gir.Slice(2 * h, h), n);
                TensorPrimitives.Tanh(n, n);
                var outRow = outs.Slice((r * t + s) * h, h);
                Simd.GruUpdate(n, hp, ru.Slice(h, h), (int)Kind, ar, outRow);
                outRow.CopyTo(hn);
            }
        }
    }

    /// <summary>
    /// Routes the gradient of an RNN's last states into the buffer of the main recurrent node, which
    /// was recorded just before and so runs right after this one in backward.
    /// </summary>
    private sealed class RnnLastNode : Node<RnnLastNode>
    {
        public Tensor DLast = null!, MainOutput = null!;
        protected override void Clear() { DLast = MainOutput = null!; }

        public static void Record(Tensor dLast, Tensor mainOutput, Tensor last)
        {
            var n = Rent();
            n.DLast = dLast; n.MainOutput = mainOutput;
            Tape.Record(n, last);
        }

        public override void Backward()
        {
            var d = DLast.Span;
            System.Numerics.Tensors.TensorPrimitives.Add(d, Output.Grad!.Span, d);
            MainOutput.GradSpan();   // makes sure the main node runs even if only the last states are used
        }
    }

    /// <summary>One backward GRU step for rows [start, end) (see <see cref="GruNode.Backward"/> for the formulas).</summary>
    private struct GruBackwardRows : IRangeKernel
    {
        public GruNode Node;
        public Tensor DGI, DGH, Dh, DhPrev;
        public int S, T, B, H;

        public void Run(int start, int end)
        {
            var n0 = Node;
            int h = H, g3 = 3 * h, t = T, b = B, s = S;
            var lens = n0.Lengths.Span;
            var gOut = n0.Output.Grad!.Span;
            var hss = n0.Hs.Span; var gts = n0.Gates.Span;
            var dgis = DGI.Span; var dghs = DGH.Span.Slice(s * b * g3, b * g3); var dhs = Dh.Span; var dps = DhPrev.Span;
            var a = n0.Scores is null ? default : n0.Scores.Span;
            Span<float> da = n0.Scores is { RequiresGrad: true } ? n0.Scores.Grad!.Span : default;
            var kind = n0.Kind;
            var order = n0.Order;
            for (int j = start; j < end; j++)
            {
                int r = order[j];                                   // dh, dGH, hs and gates are in sorted order j
                var dhr = dhs.Slice(j * h, h); var dpr = dps.Slice(j * h, h);
                if (s >= lens[r])
                {
                    dhr.CopyTo(dpr);
                    dgis.Slice((r * t + s) * g3, g3).Clear();       // padded steps pass no gradient
                    dghs.Slice(j * g3, g3).Clear();
                    continue;
                }
                var gOutRow = gOut.Slice((r * t + s) * h, h);
                var hp = hss.Slice((s * b + j) * h, h);
                var gt = gts.Slice((s * b + j) * 4 * h, 4 * h);
                var dgi = dgis.Slice((r * t + s) * g3, g3); var dgh = dghs.Slice(j * g3, g3);
                float ar = n0.Scores is null ? 0f : a[r * t + s];
                float daSum = Simd.GruBackward(gt, hp, dhr, gOutRow, (int)kind, ar, dpr, dgi, dgh);
                if (!da.IsEmpty) da[r * t + s] += daSum;
            }
        }
    }

    /// <summary>
    /// Backpropagation through time for the rows of blocks [start, end): each step's gate backward, then
    /// dh_{s−1} += dGH_s·W_hh. Steps alternate between buffers A and Bb (A holds dh of the last step first).
    /// </summary>
    private struct GruBackwardBlocks : IRangeKernel
    {
        public GruBackwardRows Step;
        public Tensor A, Bb, WHh;
        public Gemm.PackedMatrix? Packed;

        public void Run(int start, int end)
        {
            int b = Step.B, t = Step.T, h = Step.H, g3 = 3 * h;
            var lens = Step.Node.Lengths.Span;
            var dGH = Step.DGH.Span;
            for (int blk = start; blk < end; blk++)
            {
                int r0 = blk * RecurrentRowBlock, r1 = Math.Min(b, r0 + RecurrentRowBlock), m = r1 - r0, maxLen = 0;
                for (int j = r0; j < r1; j++) maxLen = Math.Max(maxLen, lens[Step.Node.Order[j]]);
                for (int i = 0; i < t; i++)
                {
                    int s = t - 1 - i;
                    var step = Step;
                    step.S = s;
                    step.Dh = i % 2 == 0 ? A : Bb;
                    step.DhPrev = i % 2 == 0 ? Bb : A;
                    step.Run(r0, r1);
                    if (s >= maxLen) continue;
                    var dgh = dGH.Slice(s * b * g3 + r0 * g3, m * g3);
                    var dp = step.DhPrev.Span.Slice(r0 * h, m * h);
                    if (Packed is { } pw) Gemm.SgemmPacked(m, pw, 1f, dgh, g3, 1f, dp, h);   // dh += dGH·W_hh
                    else Gemm.Sgemm(false, false, m, h, g3, 1f, dgh, g3, WHh.Span, h, 1f, dp, h);
                }
            }
        }
    }

    private sealed class GruNode : Node<GruNode>
    {
        public Tensor X = null!, WIh = null!, WHh = null!, Hs = null!, Gates = null!, DLast = null!;
        public Tensor? BIh, BHh, H0, Scores;
        public IntTensor Lengths = null!;
        public int[] Order = null!;
        public GruKind Kind;
        protected override void Clear() { X = WIh = WHh = Hs = Gates = DLast = null!; BIh = BHh = H0 = Scores = null; Lengths = null!; Order = null!; }

        // Backpropagation through time. With g the weight on the new candidate n:
        // dn = dh'·g, dg = dh'·(n − h), dh ← dh'·(1 − g) + dGH·W_hh, where dGH = (dpre_r, dpre_z, dhn)
        // and dhn = dpre_n·r. GRU: dpre_z = −dg·z(1−z); AGRU: da = Σ dg; AUGRU: da = Σ dg·u, dpre_z = dg·a·u(1−u).
        public override void Backward()
        {
            int b = X.Shape[0], t = X.Shape[1], inF = X.Shape[2], h = WHh.Shape[1], g3 = 3 * h;
            var dGI = Tensor.Empty(new Shape(b, t, g3));        // every row and step is written by the step kernels
            // dGH of every step, time-major like Hs, so dW_hh = Σ_s dGH_sᵀ·h_s is one GEMM after the loop.
            var dGHAll = Tensor.Empty(new Shape(t, b, g3));
            var dh = Tensor.Empty(new Shape(b, h));
            var dhPrev = Tensor.Empty(new Shape(b, h));
            for (int j = 0; j < b; j++) DLast.Span.Slice(Order[j] * h, h).CopyTo(dh.Span.Slice(j * h, h));
            Span<float> dWhh = WHh.RequiresGrad ? WHh.GradSpan() : default;
            Span<float> dBhh = BHh is { RequiresGrad: true } ? BHh.GradSpan() : default;
            if (Scores is { RequiresGrad: true }) Scores.GradSpan();
            var blocks = new GruBackwardBlocks
            {
                Step = new GruBackwardRows { Node = this, DGI = dGI, DGH = dGHAll, T = t, B = b, H = h },
                A = dh, Bb = dhPrev, WHh = WHh, Packed = PackWeight(false, h, g3, WHh),
            };
            RunRowBlocks(b, (long)t * b * g3 * h, ref blocks);
            if (t % 2 == 1) (dh, dhPrev) = (dhPrev, dh);                  // the buffer the last step wrote
            var dhs = dh.Span; var dgis = dGI.Span;
            if (!dWhh.IsEmpty) Gemm.Sgemm(true, false, g3, h, t * b, 1f, dGHAll.Span, g3, Hs.Span[..(t * b * h)], h, 1f, dWhh, h);  // dW_hh += Σ dGHᵀ·h
            var part = Tensor.Empty(new Shape(ChannelKernels.Blocks(t * b), g3)).Buffer;
            if (!dBhh.IsEmpty) ChannelKernels.ColumnSumAdd(dGHAll.Buffer, t * b, g3, part, dBhh);
            if (H0 is { RequiresGrad: true })
            {
                var g0 = H0.GradSpan();
                for (int j = 0; j < b; j++)
                {
                    var d = g0.Slice(Order[j] * h, h);
                    System.Numerics.Tensors.TensorPrimitives.Add(d, dhs.Slice(j * h, h), d);
                }
            }
            if (X.RequiresGrad) Gemm.Sgemm(false, false, b * t, inF, g3, 1f, dgis, g3, WIh.Span, inF, 1f, X.GradSpan(), inF);
            if (WIh.RequiresGrad) Gemm.Sgemm(true, false, g3, inF, b * t, 1f, dgis, g3, X.Span, inF, 1f, WIh.GradSpan(), inF);
            if (BIh is { RequiresGrad: true }) ChannelKernels.ColumnSumAdd(dGI.Buffer, b * t, g3, part, BIh.GradSpan());
        }
    }
}
