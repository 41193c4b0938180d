using System.Numerics.Tensors;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Kernels;

namespace DeepInterest.Engine;

public static partial class F
{
    private enum UnaryKind { Sigmoid, Tanh, Relu }

    /// <summary>σ(x) = 1 / (1 + e^−x); backward g·y·(1−y).</summary>
    public static Tensor Sigmoid(Tensor x) => Unary(x, UnaryKind.Sigmoid);

    /// <summary>tanh(x); backward g·(1−y²).</summary>
    public static Tensor Tanh(Tensor x) => Unary(x, UnaryKind.Tanh);

    /// <summary>max(x, 0); backward passes g where x &gt; 0.</summary>
    public static Tensor Relu(Tensor x) => Unary(x, UnaryKind.Relu);

    private static Tensor Unary(Tensor x, UnaryKind kind)
    {
        var y = Tensor.Empty(x.Shape);
        var k = new UnaryChunks { X = x.Buffer, Y = y.Buffer, Size = x.Size, Kind = kind };
        ChannelKernels.ForRows((x.Size + UnaryChunk - 1) / UnaryChunk, UnaryChunk, ref k);
        return RecordUnary(x, y, kind);
    }

    /// <summary>Records y = kind(x) for backward (when x needs a gradient).</summary>
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

    private const int UnaryChunk = 1024;

    /// <summary>
    /// An element-wise activation (or, with G set, its backward added into DX) over chunks [start, end)
    /// of <see cref="UnaryChunk"/> elements, so large tensors split over threads. Each element is
    /// computed on its own, so the split never changes a result.
    /// </summary>
    private struct UnaryChunks : IRangeKernel
    {
        public float[] X, Y;
        public float[]? G, DX;
        public int Size;
        public UnaryKind Kind;

        public void Run(int start, int end)
        {
            int i0 = start * UnaryChunk, n = Math.Min(Size, end * UnaryChunk) - i0;
            var x = X.AsSpan(i0, n); var y = Y.AsSpan(i0, n);
            if (G is null)
                switch (Kind)
                {
                    case UnaryKind.Sigmoid: TensorPrimitives.Sigmoid(x, y); break;
                    case UnaryKind.Tanh: TensorPrimitives.Tanh(x, y); break;
                    default: TensorPrimitives.Max(x, 0f, y); break;
                }
            else
            {
                var g = G.AsSpan(i0, n); var dx = DX!.AsSpan(i0, n);
                switch (Kind)
                {
                    case UnaryKind.Sigmoid: Simd.SigmoidBackwardAdd(g, y, dx); break;
                    case UnaryKind.Tanh: Simd.TanhBackwardAdd(g, y, dx); break;
                    default: Simd.ReluBackwardAdd(g, x, dx); break;
                }
            }
        }
    }

    private sealed class UnaryNode : Node<UnaryNode>
    {
        public Tensor X = null!;
        public UnaryKind Kind;
        protected override void Clear() { X = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            X.GradSpan();
            var k = new UnaryChunks { X = X.Buffer, Y = Output.Buffer, G = Output.Grad!.Buffer, DX = X.Grad!.Buffer, Size = X.Size, Kind = Kind };
            ChannelKernels.ForRows((X.Size + UnaryChunk - 1) / UnaryChunk, UnaryChunk, ref k);
        }
    }
}
