using System.Numerics.Tensors;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Kernels;

namespace DeepInterest.Engine;

public static partial class F
{
    private enum UnaryKind { Sigmoid, Tanh, Relu }

    /// <summary>σ(x) = 1 / (1 + e^−x); backward g·y·(1−y).</summary>
    public static Tensor Sigmoid(Tensor x)
    {
        var y = Tensor.Empty(x.Shape);
        TensorPrimitives.Sigmoid(x.Span, y.Span);
        return RecordUnary(x, y, UnaryKind.Sigmoid);
    }

    /// <summary>tanh(x); backward g·(1−y²).</summary>
    public static Tensor Tanh(Tensor x)
    {
        var y = Tensor.Empty(x.Shape);
        TensorPrimitives.Tanh(x.Span, y.Span);
        return RecordUnary(x, y, UnaryKind.Tanh);
    }

    /// <summary>max(x, 0); backward passes g where x &gt; 0.</summary>
    public static Tensor Relu(Tensor x)
    {
        var y = Tensor.Empty(x.Shape);
        TensorPrimitives.Max(x.Span, 0f, y.Span);
        return RecordUnary(x, y, UnaryKind.Relu);
    }

    private static Tensor RecordUnary(Tensor x, Tensor y, UnaryKind kind)
    {
        if (Tape.ShouldRecord(x))
        {
            var n = UnaryNode.Rent();
            n.X = x; n.Kind = kind;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class UnaryNode : Node<UnaryNode>
    {
        public Tensor X = null!;
        public UnaryKind Kind;
        protected override void Clear() { X = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            var gy = Output.Grad!.Span;
            var gx = X.GradSpan();
            switch (Kind)
            {
                case UnaryKind.Sigmoid: Simd.SigmoidBackwardAdd(gy, Output.Span, gx); break;
                case UnaryKind.Tanh: Simd.TanhBackwardAdd(gy, Output.Span, gx); break;
                default: Simd.ReluBackwardAdd(gy, X.Span, gx); break;
            }
        }
    }
}
