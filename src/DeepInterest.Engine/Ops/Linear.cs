using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Kernels;

namespace DeepInterest.Engine;

public static partial class F
{
    /// <summary>
    /// y = x·Wᵀ + b over the last axis: x [..., I], W [O, I] (PyTorch layout), b [O] → y [..., O].
    /// Backward: gx += gy·W, gW += gyᵀ·x, gb += Σ_rows gy.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        int inF = x.Shape.Last, rows = x.Shape.Rows, outF = weight.Shape[0];
        if (weight.Rank != 2 || weight.Shape[1] != inF)
            throw new ArgumentException($"Linear: input {x.Shape} needs weight [O, {inF}], got {weight.Shape}.");
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != outF))
            throw new ArgumentException($"Linear: bias must be [{outF}], got {bias.Shape}.");
        var y = Tensor.Empty(x.Shape.WithLast(outF));
        long tk = Profiler.Now();
        Gemm.Sgemm(false, true, rows, outF, inF, 1f, x.Span, inF, weight.Span, inF, 0f, y.Span, outF, bias is null ? default : bias.Span);
        if (Profiler.Enabled) Profiler.Section($"Linear.fwd {outF}x{inF}", tk, false);
        if (Tape.ShouldRecord(x, weight, bias))
        {
            var n = LinearNode.Rent();
            n.X = x; n.W = weight; n.B = bias;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class LinearNode : Node<LinearNode>
    {
        public Tensor X = null!, W = null!;
        public Tensor? B;
        protected override void Clear() { X = W = null!; B = null; }

        public override void Backward()
        {
            int inF = X.Shape.Last, rows = X.Shape.Rows, outF = W.Shape[0];
            var gy = Output.Grad!.Span;
            long tk = Profiler.Now();
            if (X.RequiresGrad) Gemm.Sgemm(false, false, rows, inF, outF, 1f, gy, outF, W.Span, inF, 1f, X.GradSpan(), inF);
            tk = Profiler.Enabled ? Profiler.Section($"Linear.dX {outF}x{inF}", tk, true) : 0;
            if (W.RequiresGrad) Gemm.Sgemm(true, false, outF, inF, rows, 1f, gy, outF, X.Span, inF, 1f, W.GradSpan(), inF);
            tk = Profiler.Enabled ? Profiler.Section($"Linear.dW {outF}x{inF}", tk, true) : 0;   // no string built when off
            if (B is { RequiresGrad: true })
                ChannelKernels.ColumnSumAdd(Output.Grad!.Buffer, rows, outF, Tensor.Empty(new Shape(ChannelKernels.Blocks(rows), outF)).Buffer, B.GradSpan());
            Profiler.Section("Linear.db", tk, true);
        }
    }

    /// <summary>
    /// Matrix product op(a)·op(b) for [M, K]·[K, N] → [M, N], or batched [B, M, K]·[B, K, N] → [B, M, N];
    /// <paramref name="transA"/>/<paramref name="transB"/> transpose the last two axes first.
    /// </summary>
    public static Tensor MatMul(Tensor a, Tensor b, bool transA = false, bool transB = false)
    {
        if (a.Rank != b.Rank || (a.Rank != 2 && a.Rank != 3))
            throw new ArgumentException($"MatMul: needs two rank-2 or two rank-3 tensors, got {a.Shape} and {b.Shape}.");
        int batch = a.Rank == 3 ? a.Shape[0] : 1;
        if (a.Rank == 3 && b.Shape[0] != batch) throw new ArgumentException($"MatMul: batch sizes differ: {a.Shape} and {b.Shape}.");
        int ar = a.Shape[-2], ac = a.Shape[-1], br = b.Shape[-2], bc = b.Shape[-1];
        int m = transA ? ac : ar, k = transA ? ar : ac, kb = transB ? bc : br, n = transB ? br : bc;
        if (k != kb) throw new ArgumentException($"MatMul: inner dimensions differ: {a.Shape}{(transA ? "ᵀ" : "")} · {b.Shape}{(transB ? "ᵀ" : "")}.");
        var y = Tensor.Empty(a.Rank == 3 ? new Shape(batch, m, n) : new Shape(m, n));
        var As = a.Span; var Bs = b.Span; var Ys = y.Span;
        for (int i = 0; i < batch; i++)
            Gemm.Sgemm(transA, transB, m, n, k, 1f, As.Slice(i * ar * ac, ar * ac), ac, Bs.Slice(i * br * bc, br * bc), bc, 0f, Ys.Slice(i * m * n, m * n), n);
        if (Tape.ShouldRecord(a, b))
        {
            var node = MatMulNode.Rent();
            node.A = a; node.B = b; node.TransA = transA; node.TransB = transB;
            Tape.Record(node, y);
        }
        return y;
    }

    private sealed class MatMulNode : Node<MatMulNode>
    {
        public Tensor A = null!, B = null!;
        public bool TransA, TransB;
        protected override void Clear() { A = B = null!; }

        // With Y = op(A)·op(B): d op(A) = gY·op(B)ᵀ and d op(B) = op(A)ᵀ·gY; transposed operands
        // take the transpose of those products, written so each lands in A's or B's own layout.
        public override void Backward()
        {
            int batch = A.Rank == 3 ? A.Shape[0] : 1;
            int ar = A.Shape[-2], ac = A.Shape[-1], br = B.Shape[-2], bc = B.Shape[-1];
            int m = TransA ? ac : ar, k = TransA ? ar : ac, n = TransB ? br : bc;
            var gy = Output.Grad!.Span;
            Span<float> ga = A.RequiresGrad ? A.GradSpan() : default, gb = B.RequiresGrad ? B.GradSpan() : default;
            var As = A.Span; var Bs = B.Span;
            for (int i = 0; i < batch; i++)
            {
                var gyi = gy.Slice(i * m * n, m * n);
                var ai = As.Slice(i * ar * ac, ar * ac); var bi = Bs.Slice(i * br * bc, br * bc);
                if (A.RequiresGrad)
                {
                    var gai = ga.Slice(i * ar * ac, ar * ac);
                    if (!TransA) Gemm.Sgemm(false, !TransB, m, k, n, 1f, gyi, n, bi, bc, 1f, gai, ac);     // gA[m,k] = gY·op(B)ᵀ
                    else Gemm.Sgemm(TransB, true, k, m, n, 1f, bi, bc, gyi, n, 1f, gai, ac);               // gA[k,m] = op(B)·gYᵀ
                }
                if (B.RequiresGrad)
                {
                    var gbi = gb.Slice(i * br * bc, br * bc);
                    if (!TransB) Gemm.Sgemm(!TransA, false, k, n, m, 1f, ai, ac, gyi, n, 1f, gbi, bc);     // gB[k,n] = op(A)ᵀ·gY
                    else Gemm.Sgemm(true, TransA, n, k, m, 1f, gyi, n, ai, ac, 1f, gbi, bc);               // gB[n,k] = gYᵀ·op(A)
                }
            }
        }
    }
}
