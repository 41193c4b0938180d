using System.Numerics.Tensors;
using DeepInterest.Engine.Autograd;

namespace DeepInterest.Engine;

public static partial class F
{
    /// <summary>
    /// The same elements with another shape of equal size. The result shares storage with
    /// <paramref name="x"/> (no copy); its gradient is kept separately.
    /// </summary>
    public static Tensor Reshape(Tensor x, Shape shape)
    {
        if (shape.Size != x.Size)
            throw new ArgumentException($"Reshape: cannot view {x.Shape} ({x.Size} elements) as {shape} ({shape.Size} elements).");
        var y = x.ViewAs(shape);
        if (Tape.ShouldRecord(x))
        {
            var n = ReshapeNode.Rent();
            n.X = x;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class ReshapeNode : Node<ReshapeNode>
    {
        public Tensor X = null!;
        protected override void Clear() { X = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            var gx = X.GradSpan();
            TensorPrimitives.Add(gx, Output.Grad!.Span, gx);
        }
    }
}
