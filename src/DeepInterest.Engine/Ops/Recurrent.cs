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
        var pack = StepPacking.Rent(lens, t);
        int total = Math.Max(1, pack.Total);
        // Real steps only (padded steps are never computed or stored), step-major: rows are visited
        // in length order, longest first, so the rows running at step s are a prefix of the positions
        // and a block's rows of one step are contiguous — in the states the per-step GEMMs read and in
        // the projections and gates the step kernels stream through.
        long tk = Profiler.Now();
        var xr = Tensor.Empty(new Shape(total, inF));
        var xrs = xr.Span;
        var gather = new StepRows { Pack = pack, Padded = x.Buffer, Packed = xr.Buffer, T = t, W = inF };
        ChannelKernels.ForRows(b, t * inF, ref gather);
        var gi = Tensor.Empty(new Shape(total, g3));
        if (pack.Total > 0)
            Gemm.Sgemm(false, true, pack.Total, g3, inF, 1f, xrs, inF, wIh.Span, inF, 0f, gi.Span, g3, bIh is null ? default : bIh.Span);
        tk = Profiler.Section("Gru.fwd.gi", tk, false);
        var hs = Tensor.Empty(new Shape(total, h));          // h before each real step, step-major
        bool record = Tape.GradEnabled && (Tape.ShouldRecord(x, wIh, wHh) || (bIh?.RequiresGrad ?? false) || (bHh?.RequiresGrad ?? false)
            || (h0?.RequiresGrad ?? false) || (scores?.RequiresGrad ?? false));
        // r, σ(pre_z), n, W_hn h + b_hn per real step for the backward; without one, per row and overwritten each step.
        var gates = Tensor.Empty(new Shape(record ? total : b, 4 * h));
        var gh = Tensor.Empty(new Shape(b, g3));
        var outputs = Tensor.Empty(new Shape(b, t, h));     // padded steps are zeroed by the block kernels
        var last = Tensor.Empty(new Shape(b, h));
        // Blocks of rows run all their steps on one thread: one fork-join per layer instead of one
        // per step. Blocks have a fixed size, so every row is computed the same way whatever the
        // thread count.
        var blocks = new GruForwardBlocks
        {
            Gi = gi, Gh = gh, Hs = hs, Gates = gates, KeepGates = record, Out = outputs, Last = last, H0 = h0, Scores = scores,
            Pack = pack, T = t, B = b, H = h, Kind = kind,
            WHh = wHh, BHh = bHh, Packed = PackWeight(true, g3, h, wHh),
        };
        RunRowBlocks(b, (long)pack.Total * g3 * h, ref blocks);
        Profiler.Section("Gru.fwd.steps", tk, false);
        if (record)
        {
            var node = GruNode.Rent();
            node.X = x; node.XRows = xr; node.WIh = wIh; node.WHh = wHh; node.BIh = bIh; node.BHh = bHh;
            node.H0 = h0; node.Kind = kind; node.Scores = scores; node.Hs = hs; node.Gates = gates; node.Pack = pack;
            node.DLast = Tensor.ZerosTemp(new Shape(b, h));
            Tape.Record(node, outputs);
            RnnLastNode.Record(node.DLast, outputs, last);
        }
        else pack.Return();
        return new RnnResult(outputs, last);
    }

    /// <summary>
    /// Copies the real steps of positions [start, end) from a padded [B, T, W] tensor into the
    /// step-major packed layout, or (AddBack) adds packed rows back onto the padded one. Each row's
    /// steps are contiguous in the padded tensor, so it is walked row by row.
    /// </summary>
    private struct StepRows : IRangeKernel
    {
        public StepPacking Pack;
        public float[] Padded, Packed;
        public int T, W;
        public bool AddBack;

        public void Run(int start, int end)
        {
            var p = Pack; int w = W;
            for (int j = start; j < end; j++)
            {
                var row = Padded.AsSpan(p.Order[j] * T * w, p.Lengths[j] * w);
                for (int s = 0; s < p.Lengths[j]; s++)
                {
                    var packed = Packed.AsSpan((p.StepStart[s] + j) * w, w); var padded = row.Slice(s * w, w);
                    if (AddBack) TensorPrimitives.Add(padded, packed, padded);
                    else padded.CopyTo(packed);
                }
            }
        }
    }

    /// <summary>
    /// Where the real steps of a length-sorted batch live: position j (row Order[j]) has Lengths[j]
    /// steps; its step s is at StepStart[s] + j, where Active[s] rows (a prefix of the positions)
    /// are still running.
    /// </summary>
    internal sealed class StepPacking
    {
        public int[] Order = [], Lengths = [], StepStart = [], Active = [];
        public int Total;
        private int[] _start = [];

        // Index arrays are reused (one pool per thread): a training step would otherwise allocate
        // them anew for every recurrent layer.
        [ThreadStatic] private static Stack<StepPacking>? _pool;

        /// <summary>Rows sorted by length, longest first (equal lengths keep their order: a counting sort), and the offsets of their real steps.</summary>
        public static StepPacking Rent(ReadOnlySpan<int> lens, int t)
        {
            var p = (_pool ??= new Stack<StepPacking>()).TryPop(out var reused) ? reused : new StepPacking();
            int b = lens.Length;
            if (p.Order.Length < b) { p.Order = new int[b]; p.Lengths = new int[b]; }
            if (p.Active.Length < t) { p.Active = new int[t]; p.StepStart = new int[t + 1]; p._start = new int[t + 2]; }
            var start = p._start.AsSpan(0, t + 2);
            start.Clear();
            foreach (var l in lens) start[t - l + 1]++;
            for (int i = 1; i <= t + 1; i++) start[i] += start[i - 1];
            for (int r = 0; r < b; r++) p.Order[start[t - lens[r]]++] = r;
            var active = p.Active.AsSpan(0, t);
            active.Clear();
            p.Total = 0;
            for (int j = 0; j < b; j++)
            {
                int l = p.Lengths[j] = lens[p.Order[j]];
                p.Total += l;
                for (int s = 0; s < l; s++) active[s]++;
            }
            p.StepStart[0] = 0;
            for (int s = 0; s < t; s++) p.StepStart[s + 1] = p.StepStart[s] + active[s];
            return p;
        }

        public void Return() => (_pool ??= new Stack<StepPacking>()).Push(this);
    }

    private static float Sigmoid1(float v) => 1f / (1f + MathF.Exp(-v));

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

    /// <summary>All steps of a GRU for the rows of blocks [start, end): h·W_hhᵀ over the block's running rows, then the gates.</summary>
    private struct GruForwardBlocks : IRangeKernel
    {
        public Tensor Gi, Gh, Hs, Gates, Out, Last, WHh;
        public bool KeepGates;
        public Tensor? H0, Scores, BHh;
        public StepPacking Pack;
        public int T, B, H;
        public GruKind Kind;
        public Gemm.PackedMatrix? Packed;

        public void Run(int start, int end)
        {
            int b = B, t = T, h = H, g3 = 3 * h;
            var p = Pack;
            var hss = Hs.Span; var ghs = Gh.Span; var gis = Gi.Span; var gts = Gates.Span; var outs = Out.Span; var lasts = Last.Span;
            var bias = BHh is null ? default : BHh.Span;
            var a = Scores is null ? default : Scores.Span;
            for (int blk = start; blk < end; blk++)
            {
                int r0 = blk * RecurrentRowBlock, r1 = Math.Min(b, r0 + RecurrentRowBlock);
                for (int j = r0; j < r1; j++)
                {
                    int r = p.Order[j], len = p.Lengths[j];
                    var h0 = H0 is null ? default : H0.Span.Slice(r * h, h);
                    var first = len > 0 ? hss.Slice(j * h, h) : lasts.Slice(r * h, h);   // StepStart[0] = 0
                    if (H0 is null) first.Clear(); else h0.CopyTo(first);
                    outs.Slice((r * t + len) * h, (t - len) * h).Clear();
                }
                for (int s = 0; s < t; s++)
                {
                    int m = Math.Min(r1, p.Active[s]) - r0;
                    if (m <= 0) break;
                    var hPrev = hss.Slice((p.StepStart[s] + r0) * h, m * h);
                    var gh = ghs.Slice(r0 * g3, m * g3);
                    if (Packed is { } pw) Gemm.SgemmPacked(m, pw, 1f, hPrev, h, 0f, gh, g3, bias);
                    else Gemm.Sgemm(false, true, m, g3, h, 1f, hPrev, h, WHh.Span, h, 0f, gh, g3, bias);
                    for (int j = r0; j < r0 + m; j++)
                    {
                        int r = p.Order[j], k = p.StepStart[s] + j;
                        if (j + 2 < r0 + m) Simd.Prefetch(outs, (p.Order[j + 2] * t + s) * h, h);   // rows of the outputs lie T·H apart
                        var gir = gis.Slice(k * g3, g3); var ghr = gh.Slice((j - r0) * g3, g3);
                        var gt = gts.Slice((KeepGates ? k : j) * 4 * h, 4 * h);
                        var hp = hPrev.Slice((j - r0) * h, h);
                        float ar = Scores is null ? 0f : a[r * t + s];
                        var outRow = outs.Slice((r * t + s) * h, h);
                        Simd.GruForward(gir, ghr, hp, (int)Kind, ar, gt, outRow);
                        // The state goes on to the next step, or is the row's last state.
                        outRow.CopyTo(s + 1 < p.Lengths[j] ? hss.Slice((p.StepStart[s + 1] + j) * h, h) : lasts.Slice(r * h, h));
                    }
                }
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

    /// <summary>
    /// Backpropagation through time for the rows of blocks [start, end): each running row's gate
    /// backward (dh updated in place), then dh += dGH·W_hh over the block's running rows. A row's dh
    /// passes unchanged through its padded steps, which have nothing stored.
    /// </summary>
    private struct GruBackwardBlocks : IRangeKernel
    {
        public GruNode Node;
        public Tensor DGI, DGH, Dh;
        public int T, B, H;
        public Gemm.PackedMatrix? Packed;

        public void Run(int start, int end)
        {
            var n0 = Node; var p = n0.Pack;
            int b = B, t = T, h = H, g3 = 3 * h;
            var gOut = n0.Output.Grad!.Span;
            var hss = n0.Hs.Span; var gts = n0.Gates.Span;
            var dgis = DGI.Span; var dghs = DGH.Span; var dhs = Dh.Span;
            var a = n0.Scores is null ? default : n0.Scores.Span;
            Span<float> da = n0.Scores is { RequiresGrad: true } ? n0.Scores.Grad!.Span : default;
            int kind = (int)n0.Kind;
            for (int blk = start; blk < end; blk++)
            {
                int r0 = blk * RecurrentRowBlock, r1 = Math.Min(b, r0 + RecurrentRowBlock);
                for (int s = t - 1; s >= 0; s--)
                {
                    int m = Math.Min(r1, p.Active[s]) - r0;
                    if (m <= 0) continue;
                    int hsAt = p.StepStart[s] + r0;
                    for (int j = r0; j < r0 + m; j++)
                    {
                        int r = p.Order[j], k = hsAt + j - r0;
                        if (j + 2 < r0 + m) Simd.Prefetch(gOut, (p.Order[j + 2] * t + s) * h, h);
                        var dh = dhs.Slice(j * h, h);
                        float ar = n0.Scores is null ? 0f : a[r * t + s];
                        float daSum = Simd.GruBackward(gts.Slice(k * 4 * h, 4 * h), hss.Slice(k * h, h), dh, gOut.Slice((r * t + s) * h, h),
                            kind, ar, dh, dgis.Slice(k * g3, g3), dghs.Slice(k * g3, g3));
                        if (!da.IsEmpty) da[r * t + s] += daSum;
                    }
                    var dgh = dghs.Slice(hsAt * g3, m * g3);
                    var dp = dhs.Slice(r0 * h, m * h);
                    if (Packed is { } pw) Gemm.SgemmPacked(m, pw, 1f, dgh, g3, 1f, dp, h);   // dh += dGH·W_hh
                    else Gemm.Sgemm(false, false, m, h, g3, 1f, dgh, g3, n0.WHh.Span, h, 1f, dp, h);
                }
            }
        }
    }

    private sealed class GruNode : Node<GruNode>
    {
        public Tensor X = null!, XRows = null!, WIh = null!, WHh = null!, Hs = null!, Gates = null!, DLast = null!;
        public Tensor? BIh, BHh, H0, Scores;
        public StepPacking Pack = null!;
        public GruKind Kind;
        protected override void Clear() { X = XRows = WIh = WHh = Hs = Gates = DLast = null!; BIh = BHh = H0 = Scores = null; Pack?.Return(); Pack = null!; }

        // Backpropagation through time. With g the weight on the new candidate n:
        // dn = dh'·g, dg = dh'·(n − h), dh ← dh'·(1 − g) + dGH·W_hh, where dGH = (dpre_r, dpre_z, dhn)
        // and dhn = dpre_n·r. GRU: dpre_z = −dg·z(1−z); AGRU: da = Σ dg; AUGRU: da = Σ dg·u, dpre_z = dg·a·u(1−u).
        // dGI and dGH hold the real steps only (step-major, like x and the states), so the weight
        // gradients are single GEMMs over them.
        public override void Backward()
        {
            int b = X.Shape[0], t = X.Shape[1], inF = X.Shape[2], h = WHh.Shape[1], g3 = 3 * h;
            var p = Pack; int total = p.Total;
            var dGI = Tensor.Empty(new Shape(Math.Max(1, total), g3));
            var dGH = Tensor.Empty(new Shape(Math.Max(1, total), g3));
            var dh = Tensor.Empty(new Shape(b, h));
            var dhs = dh.Span;
            for (int j = 0; j < b; j++) DLast.Span.Slice(p.Order[j] * h, h).CopyTo(dhs.Slice(j * h, h));
            if (Scores is { RequiresGrad: true }) Scores.GradSpan();
            var blocks = new GruBackwardBlocks { Node = this, DGI = dGI, DGH = dGH, Dh = dh, T = t, B = b, H = h, Packed = PackWeight(false, h, g3, WHh) };
            long tk = Profiler.Now();
            RunRowBlocks(b, (long)total * g3 * h, ref blocks);
            tk = Profiler.Section("Gru.bwd.bptt", tk, true);
            if (H0 is { RequiresGrad: true })
            {
                var g0 = H0.GradSpan();
                for (int j = 0; j < b; j++)
                {
                    var d = g0.Slice(p.Order[j] * h, h);
                    TensorPrimitives.Add(d, dhs.Slice(j * h, h), d);
                }
            }
            if (total == 0) return;
            var part = Tensor.Empty(new Shape(ChannelKernels.Blocks(total), g3)).Buffer;
            if (WHh.RequiresGrad) Gemm.Sgemm(true, false, g3, h, total, 1f, dGH.Span, g3, Hs.Span, h, 1f, WHh.GradSpan(), h);  // dW_hh += Σ dGHᵀ·h
            tk = Profiler.Section("Gru.bwd.dWhh", tk, true);
            if (BHh is { RequiresGrad: true }) ChannelKernels.ColumnSumAdd(dGH.Buffer, total, g3, part, BHh.GradSpan());
            tk = Profiler.Section("Gru.bwd.dbhh", tk, true);
            if (X.RequiresGrad)
            {
                var dxr = Tensor.Empty(new Shape(total, inF));
                Gemm.Sgemm(false, false, total, inF, g3, 1f, dGI.Span, g3, WIh.Span, inF, 0f, dxr.Span, inF);
                X.GradSpan();
                var scatter = new StepRows { Pack = p, Padded = X.Grad!.Buffer, Packed = dxr.Buffer, T = t, W = inF, AddBack = true };
                ChannelKernels.ForRows(b, t * inF, ref scatter);
            }
            tk = Profiler.Section("Gru.bwd.dX", tk, true);
            if (WIh.RequiresGrad) Gemm.Sgemm(true, false, g3, inF, total, 1f, dGI.Span, g3, XRows.Span, inF, 1f, WIh.GradSpan(), inF);
            tk = Profiler.Section("Gru.bwd.dWih", tk, true);
            if (BIh is { RequiresGrad: true }) ChannelKernels.ColumnSumAdd(dGI.Buffer, total, g3, part, BIh.GradSpan());
            Profiler.Section("Gru.bwd.dbih", tk, true);
        }
    }
}
