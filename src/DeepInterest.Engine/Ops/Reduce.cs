using System.Numerics.Tensors;
using DeepInterest.Engine.Autograd;

namespace DeepInterest.Engine;

public static partial class F
{
    /// <summary>Σ x over every element → scalar.</summary>
    public static Tensor Sum(Tensor x) => ReduceAll(x, 1f);

    /// <summary>(1/n) Σ x over every element → scalar.</summary>
    public static Tensor Mean(Tensor x) => ReduceAll(x, x.Size == 0 ? 0f : 1f / x.Size);

    private static Tensor ReduceAll(Tensor x, float scale)
    {
        var y = Tensor.Empty(Shape.Scalar);
        // Summed in double so the result does not depend on how the span is split into vectors.
        double s = 0;
        foreach (var v in x.Span) s += v;
        y.Span[0] = (float)(s * scale);
        if (Tape.ShouldRecord(x))
        {
            var n = ReduceAllNode.Rent();
            n.X = x; n.Scale = scale;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class ReduceAllNode : Node<ReduceAllNode>
    {
        public Tensor X = null!;
        public float Scale;
        protected override void Clear() { X = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            var gx = X.GradSpan();
            TensorPrimitives.Add(gx, Output.Grad!.Span[0] * Scale, gx);
        }
    }

    /// <summary>Σ over the last axis: [..., D] → [...] (rank drops by one).</summary>
    public static Tensor SumLastAxis(Tensor x)
    {
        int d = x.Shape.Last, rows = x.Shape.Rows;
        var y = Tensor.Empty(x.Shape.DropLast());
        var xs = x.Span; var ys = y.Span;
        for (int r = 0; r < rows; r++) ys[r] = TensorPrimitives.Sum(xs.Slice(r * d, d));
        if (Tape.ShouldRecord(x))
        {
            var n = SumLastNode.Rent();
            n.X = x;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class SumLastNode : Node<SumLastNode>
    {
        public Tensor X = null!;
        protected override void Clear() { X = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            int d = X.Shape.Last, rows = X.Shape.Rows;
            var gx = X.GradSpan(); var gy = Output.Grad!.Span;
            for (int r = 0; r < rows; r++)
            {
                var row = gx.Slice(r * d, d);
                TensorPrimitives.Add(row, gy[r], row);
            }
        }
    }
}
