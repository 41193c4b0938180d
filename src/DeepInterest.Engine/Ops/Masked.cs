using System.Numerics.Tensors;
using DeepInterest.Engine.Autograd;

namespace DeepInterest.Engine;

public static partial class F
{
    private static void CheckMask(Mask mask, int batch, int steps, string op)
    {
        if (mask.Batch != batch || mask.Steps != steps)
            throw new ArgumentException($"{op}: mask is [{mask.Batch}, {mask.Steps}] but the data needs [{batch}, {steps}].");
    }

    /// <summary>
    /// Softmax along the last axis of x [B, ..., T] with a mask [B, T] (broadcast over middle axes):
    /// w_t = e^{x_t} / Σ_{real s} e^{x_s} at real positions and exactly 0 at masked ones; a row with
    /// no real position is all zeros (not NaN). With <paramref name="mask"/> null, a plain softmax.
    /// </summary>
    public static Tensor MaskedSoftmax(Tensor x, Mask? mask)
    {
        int t = x.Shape.Last, rows = x.Shape.Rows, b = x.Rank > 1 ? x.Shape[0] : 1;
        int rowsPerBatch = rows / Math.Max(1, b);
        if (mask is not null) CheckMask(mask, b, t, "MaskedSoftmax");
        var y = Tensor.Empty(x.Shape);
        var xs = x.Span; var ys = y.Span;
        for (int r = 0; r < rows; r++)
        {
            var xr = xs.Slice(r * t, t); var yr = ys.Slice(r * t, t);
            if (mask is null) { TensorPrimitives.SoftMax(xr, yr); continue; }
            var m = mask.Row(r / rowsPerBatch);
            float max = float.NegativeInfinity;
            for (int i = 0; i < t; i++) if (m[i] && xr[i] > max) max = xr[i];
            if (float.IsNegativeInfinity(max)) { yr.Clear(); continue; }
            float sum = 0;
            for (int i = 0; i < t; i++)
            {
                float e = m[i] ? MathF.Exp(xr[i] - max) : 0f;
                yr[i] = e; sum += e;
            }
            TensorPrimitives.Multiply(yr, 1f / sum, yr);
        }
        if (Tape.ShouldRecord(x))
        {
            var n = SoftmaxNode.Rent();
            n.X = x;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class SoftmaxNode : Node<SoftmaxNode>
    {
        public Tensor X = null!;
        protected override void Clear() { X = null!; }

        // gx = y ⊙ (gy − Σ gy ⊙ y); masked positions have y = 0 and so receive nothing.
        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            int t = X.Shape.Last, rows = X.Shape.Rows;
            var gy = Output.Grad!.Span; var y = Output.Span; var gx = X.GradSpan();
            for (int r = 0; r < rows; r++)
            {
                var yr = y.Slice(r * t, t); var gr = gy.Slice(r * t, t); var gxr = gx.Slice(r * t, t);
                float dot = TensorPrimitives.Dot(yr, gr);
                for (int i = 0; i < t; i++) gxr[i] += yr[i] * (gr[i] - dot);
            }
        }
    }

    /// <summary>
    /// σ(x) at real positions and exactly 0 at masked ones, for x [B, T] and mask [B, T]
    /// (DIN's un-normalized attention weights; the seed tutorial's "−∞ then sigmoid").
    /// </summary>
    public static Tensor MaskedSigmoid(Tensor x, Mask mask)
    {
        if (x.Rank != 2) throw new ArgumentException($"MaskedSigmoid: x must be [B, T], got {x.Shape}.");
        CheckMask(mask, x.Shape[0], x.Shape[1], "MaskedSigmoid");
        var y = Tensor.Empty(x.Shape);
        TensorPrimitives.Sigmoid(x.Span, y.Span);
        var ys = y.Span; var m = mask.Values;
        for (int i = 0; i < ys.Length; i++) if (!m[i]) ys[i] = 0f;
        return RecordUnary(x, y, UnaryKind.Sigmoid);   // σ' = y(1 − y) is 0 where y was zeroed
    }

    /// <summary>
    /// Attention pooling Σ_t w[b, t]·v[b, t, :] over real positions: w [B, T], v [B, T, E] → [B, E].
    /// Masked positions contribute nothing and get no gradient, whatever their values.
    /// </summary>
    public static Tensor WeightedSum(Tensor weights, Tensor values, Mask? mask)
    {
        if (values.Rank != 3 || weights.Rank != 2 || weights.Shape[0] != values.Shape[0] || weights.Shape[1] != values.Shape[1])
            throw new ArgumentException($"WeightedSum: needs weights [B, T] and values [B, T, E], got {weights.Shape} and {values.Shape}.");
        int b = values.Shape[0], t = values.Shape[1], e = values.Shape[2];
        if (mask is not null) CheckMask(mask, b, t, "WeightedSum");
        var y = Tensor.ZerosTemp(new Shape(b, e));
        var k = new WeightedSumRows { W = weights.Buffer, V = values.Buffer, Y = y.Buffer, M = mask?.Buffer, T = t, E = e };
        Kernels.ChannelKernels.ForRows(b, t * e, ref k, elementsPerPart: Kernels.Par.MinElementsPerPart);
        if (Tape.ShouldRecord(weights, values))
        {
            var n = WeightedSumNode.Rent();
            n.W = weights; n.V = values; n.M = mask;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class WeightedSumNode : Node<WeightedSumNode>
    {
        public Tensor W = null!, V = null!;
        public Mask? M;
        protected override void Clear() { W = V = null!; M = null; }

        public override void Backward()
        {
            int b = V.Shape[0], t = V.Shape[1], e = V.Shape[2];
            if (W.RequiresGrad) W.GradSpan();
            if (V.RequiresGrad) V.GradSpan();
            var k = new WeightedSumRows
            {
                W = W.Buffer, V = V.Buffer, Y = Output.Grad!.Buffer, M = M?.Buffer, T = t, E = e, Backward = true,
                GW = W.RequiresGrad ? W.Grad!.Buffer : null, GV = V.RequiresGrad ? V.Grad!.Buffer : null,
            };
            Kernels.ChannelKernels.ForRows(b, t * e, ref k, elementsPerPart: Kernels.Par.MinElementsPerPart);
        }
    }

    /// <summary>Rows [start, end) of the weighted sum: y_i = Σ_j w_ij v_ij; backward gw_ij += g_i·v_ij, gv_ij += w_ij g_i.</summary>
    private struct WeightedSumRows : Kernels.IRangeKernel
    {
        public float[] W, V, Y;
        public float[]? GW, GV;
        public bool[]? M;
        public int T, E;
        public bool Backward;       // then Y holds the output gradient

        public void Run(int start, int end)
        {
            int t = T, e = E;
            for (int i = start; i < end; i++)
            {
                var y = Y.AsSpan(i * e, e);
                for (int j = 0; j < t; j++)
                {
                    if (M is not null && !M[i * t + j]) continue;
                    var v = V.AsSpan((i * t + j) * e, e);
                    if (!Backward) { TensorPrimitives.MultiplyAdd(v, W[i * t + j], y, y); continue; }
                    if (GW is not null) GW[i * t + j] += TensorPrimitives.Dot(y, v);
                    if (GV is not null) { var d = GV.AsSpan((i * t + j) * e, e); TensorPrimitives.MultiplyAdd(y, W[i * t + j], d, d); }
                }
            }
        }
    }

    /// <summary>Pooling kinds over a masked time axis.</summary>
    public enum Pooling { Sum, Mean, Max }

    /// <summary>
    /// Pools x [B, T, E] over the real positions of mask [B, T] → [B, E]. Mean divides by the number
    /// of real positions; a row with none gives zeros for every kind. Max sends the gradient to the
    /// first position holding the maximum.
    /// </summary>
    public static Tensor MaskedPool(Tensor x, Mask mask, Pooling kind)
    {
        if (x.Rank != 3) throw new ArgumentException($"MaskedPool: x must be [B, T, E], got {x.Shape}.");
        int b = x.Shape[0], t = x.Shape[1], e = x.Shape[2];
        CheckMask(mask, b, t, "MaskedPool");
        var y = Tensor.ZerosTemp(new Shape(b, e));
        var xs = x.Span; var ys = y.Span;
        for (int i = 0; i < b; i++)
        {
            var yr = ys.Slice(i * e, e);
            int count = 0;
            for (int j = 0; j < t; j++)
            {
                if (!mask[i, j]) continue;
                var xr = xs.Slice((i * t + j) * e, e);
                if (kind == Pooling.Max && count == 0) xr.CopyTo(yr);
                else if (kind == Pooling.Max) TensorPrimitives.Max(yr, xr, yr);
                else TensorPrimitives.Add(yr, xr, yr);
                count++;
            }
            if (kind == Pooling.Mean && count > 0) TensorPrimitives.Multiply(yr, 1f / count, yr);
        }
        if (Tape.ShouldRecord(x))
        {
            var n = PoolNode.Rent();
            n.X = x; n.M = mask; n.Kind = kind;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class PoolNode : Node<PoolNode>
    {
        public Tensor X = null!;
        public Mask M = null!;
        public Pooling Kind;
        protected override void Clear() { X = null!; M = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            int b = X.Shape[0], t = X.Shape[1], e = X.Shape[2];
            var gy = Output.Grad!.Span; var gx = X.GradSpan(); var xs = X.Span; var ys = Output.Span;
            for (int i = 0; i < b; i++)
            {
                var g = gy.Slice(i * e, e);
                int count = M.CountRow(i);
                if (count == 0) continue;
                if (Kind == Pooling.Max)
                {
                    for (int k = 0; k < e; k++)
                    {
                        float target = ys[i * e + k];
                        for (int j = 0; j < t; j++)
                            if (M[i, j] && xs[(i * t + j) * e + k] == target) { gx[(i * t + j) * e + k] += g[k]; break; }
                    }
                    continue;
                }
                float scale = Kind == Pooling.Mean ? 1f / count : 1f;
                for (int j = 0; j < t; j++)
                {
                    if (!M[i, j]) continue;
                    var d = gx.Slice((i * t + j) * e, e);
                    TensorPrimitives.MultiplyAdd(g, scale, d, d);
                }
            }
        }
    }
}
