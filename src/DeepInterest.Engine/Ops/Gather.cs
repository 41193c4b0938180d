using System.Numerics.Tensors;
using DeepInterest.Engine.Autograd;

namespace DeepInterest.Engine;

public static partial class F
{
    /// <summary>
    /// Row gather: y[i, :] = x[rows[i], :] for x viewed as [R, E] (any rank; the last axis is E) →
    /// [N, E]; backward adds each row's gradient back (repeated rows accumulate). Used to run the
    /// attention MLP over real behaviours only. <paramref name="rows"/> must not change before backward.
    /// </summary>
    public static Tensor GatherRows(Tensor x, int[] rows, int count)
    {
        int e = x.Shape.Last, r = x.Shape.Rows;
        var y = Tensor.Empty(new Shape(count, e));
        var xs = x.Span; var ys = y.Span;
        for (int i = 0; i < count; i++)
        {
            int src = rows[i];
            if ((uint)src >= (uint)r) throw new ArgumentException($"GatherRows: row {src} outside [0, {r}).");
            xs.Slice(src * e, e).CopyTo(ys.Slice(i * e, e));
        }
        if (Tape.ShouldRecord(x))
        {
            var n = GatherRowsNode.Rent();
            n.X = x; n.Rows = rows; n.Count = count;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class GatherRowsNode : Node<GatherRowsNode>
    {
        public Tensor X = null!;
        public int[] Rows = null!;
        public int Count;
        protected override void Clear() { X = null!; Rows = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            int e = X.Shape.Last;
            var gx = X.GradSpan(); var gy = Output.Grad!.Span;
            for (int i = 0; i < Count; i++)
            {
                var d = gx.Slice(Rows[i] * e, e);
                TensorPrimitives.Add(d, gy.Slice(i * e, e), d);
            }
        }
    }

    /// <summary>
    /// The inverse layout: y [R, E] (zero-filled) with y[rows[i], :] = x[i, :] for x [N, E], reshaped to
    /// <paramref name="shape"/>; rows must be distinct. Backward gathers the gradient rows.
    /// </summary>
    public static Tensor ScatterRows(Tensor x, int[] rows, Shape shape)
    {
        int e = x.Shape.Last, count = x.Shape.Rows;
        if (shape.Last != e && !(shape.Size % e == 0)) throw new ArgumentException($"ScatterRows: cannot place rows of width {e} into {shape}.");
        int r = shape.Size / e;
        var y = Tensor.ZerosTemp(shape);
        var xs = x.Span; var ys = y.Span;
        for (int i = 0; i < count; i++)
        {
            int dst = rows[i];
            if ((uint)dst >= (uint)r) throw new ArgumentException($"ScatterRows: row {dst} outside [0, {r}).");
            xs.Slice(i * e, e).CopyTo(ys.Slice(dst * e, e));
        }
        if (Tape.ShouldRecord(x))
        {
            var n = ScatterRowsNode.Rent();
            n.X = x; n.Rows = rows;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class ScatterRowsNode : Node<ScatterRowsNode>
    {
        public Tensor X = null!;
        public int[] Rows = null!;
        protected override void Clear() { X = null!; Rows = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            int e = X.Shape.Last, count = X.Shape.Rows;
            var gx = X.GradSpan(); var gy = Output.Grad!.Span;
            for (int i = 0; i < count; i++)
            {
                var d = gx.Slice(i * e, e);
                TensorPrimitives.Add(d, gy.Slice(Rows[i] * e, e), d);
            }
        }
    }
}
