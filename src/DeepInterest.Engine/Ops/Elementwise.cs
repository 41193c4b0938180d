using System.Numerics.Tensors;
using DeepInterest.Engine.Autograd;

namespace DeepInterest.Engine;

/// <summary>Differentiable tensor functions (the engine's <c>torch.nn.functional</c>).</summary>
public static partial class F
{
    internal enum BinaryKind { Add, Sub, Mul, Div }

    /// <summary>a + b with broadcasting.</summary>
    public static Tensor Add(Tensor a, Tensor b) => Binary(a, b, BinaryKind.Add);
    /// <summary>a − b with broadcasting.</summary>
    public static Tensor Sub(Tensor a, Tensor b) => Binary(a, b, BinaryKind.Sub);
    /// <summary>a ⊙ b with broadcasting.</summary>
    public static Tensor Mul(Tensor a, Tensor b) => Binary(a, b, BinaryKind.Mul);
    /// <summary>a / b with broadcasting.</summary>
    public static Tensor Div(Tensor a, Tensor b) => Binary(a, b, BinaryKind.Div);

    private static Tensor Binary(Tensor a, Tensor b, BinaryKind kind)
    {
        // A literal name per kind: Enum.ToString() would allocate on every call.
        var plan = new BroadcastPlan(a.Shape, b.Shape, kind switch { BinaryKind.Add => "Add", BinaryKind.Sub => "Sub", BinaryKind.Mul => "Mul", _ => "Div" });
        var y = Tensor.Empty(plan.Out);
        BinaryForward(plan, a.Span, b.Span, y.Span, kind);
        if (Tape.ShouldRecord(a, b))
        {
            var n = BinaryNode.Rent();
            n.A = a; n.B = b; n.Y = y; n.Kind = kind; n.Plan = plan;
            Tape.Record(n, y);
        }
        return y;
    }

    private static void BinaryForward(in BroadcastPlan p, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, BinaryKind kind)
    {
        if (p.A3 == 1 && p.B3 == 1 && a.Length == y.Length && b.Length == y.Length)
        {
            InnerForward(a, b, y, kind);
            return;
        }
        int yi = 0;
        for (int i0 = 0; i0 < p.O0; i0++)
        for (int i1 = 0; i1 < p.O1; i1++)
        for (int i2 = 0; i2 < p.O2; i2++)
        {
            int ai = i0 * p.A0 + i1 * p.A1 + i2 * p.A2, bi = i0 * p.B0 + i1 * p.B1 + i2 * p.B2;
            var yr = y.Slice(yi, p.O3);
            yi += p.O3;
            if (p.A3 == 1 && p.B3 == 1) InnerForward(a.Slice(ai, p.O3), b.Slice(bi, p.O3), yr, kind);
            else if (p.A3 == 1) InnerForwardScalarB(a.Slice(ai, p.O3), b[bi], yr, kind);
            else if (p.B3 == 1) InnerForwardScalarA(a[ai], b.Slice(bi, p.O3), yr, kind);
            else yr.Fill(Apply(a[ai], b[bi], kind));
        }
    }

    private static float Apply(float a, float b, BinaryKind k) => k switch
    {
        BinaryKind.Add => a + b, BinaryKind.Sub => a - b, BinaryKind.Mul => a * b, _ => a / b,
    };

    private static void InnerForward(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, BinaryKind k)
    {
        switch (k)
        {
            case BinaryKind.Add: TensorPrimitives.Add(a, b, y); break;
            case BinaryKind.Sub: TensorPrimitives.Subtract(a, b, y); break;
            case BinaryKind.Mul: TensorPrimitives.Multiply(a, b, y); break;
            default: TensorPrimitives.Divide(a, b, y); break;
        }
    }

    private static void InnerForwardScalarB(ReadOnlySpan<float> a, float b, Span<float> y, BinaryKind k)
    {
        switch (k)
        {
            case BinaryKind.Add: TensorPrimitives.Add(a, b, y); break;
            case BinaryKind.Sub: TensorPrimitives.Subtract(a, b, y); break;
            case BinaryKind.Mul: TensorPrimitives.Multiply(a, b, y); break;
            default: TensorPrimitives.Divide(a, b, y); break;
        }
    }

    private static void InnerForwardScalarA(float a, ReadOnlySpan<float> b, Span<float> y, BinaryKind k)
    {
        switch (k)
        {
            case BinaryKind.Add: TensorPrimitives.Add(b, a, y); break;
            case BinaryKind.Sub: TensorPrimitives.Subtract(a, b, y); break;
            case BinaryKind.Mul: TensorPrimitives.Multiply(b, a, y); break;
            default: TensorPrimitives.Divide(a, b, y); break;
        }
    }

    private sealed class BinaryNode : Node<BinaryNode>
    {
        public Tensor A = null!, B = null!, Y = null!;
        public BinaryKind Kind;
        public BroadcastPlan Plan;

        protected override void Clear() { A = B = Y = null!; }

        // For every output element: ∂y/∂a and ∂y/∂b are (1, 1), (1, −1), (b, a) or (1/b, −y/b);
        // each input accumulates the product with gy over the axes it was stretched along.
        public override void Backward()
        {
            var gy = Y.Grad!.Span;
            var p = Plan;
            bool needA = A.RequiresGrad, needB = B.RequiresGrad;
            Span<float> ga = needA ? A.GradSpan() : default, gb = needB ? B.GradSpan() : default;
            ReadOnlySpan<float> a = A.Span, b = B.Span, y = Y.Span;
            bool same = p.A3 == 1 && p.B3 == 1 && a.Length == gy.Length && b.Length == gy.Length;
            if (same && Kind != BinaryKind.Div)
            {
                if (needA)
                {
                    if (Kind == BinaryKind.Mul) TensorPrimitives.MultiplyAdd(gy, b, ga, ga);
                    else TensorPrimitives.Add(ga, gy, ga);
                }
                if (needB)
                {
                    if (Kind == BinaryKind.Mul) TensorPrimitives.MultiplyAdd(gy, a, gb, gb);
                    else if (Kind == BinaryKind.Sub) TensorPrimitives.Subtract(gb, gy, gb);
                    else TensorPrimitives.Add(gb, gy, gb);
                }
                return;
            }
            int yi = 0;
            for (int i0 = 0; i0 < p.O0; i0++)
            for (int i1 = 0; i1 < p.O1; i1++)
            for (int i2 = 0; i2 < p.O2; i2++)
            {
                int ai = i0 * p.A0 + i1 * p.A1 + i2 * p.A2, bi = i0 * p.B0 + i1 * p.B1 + i2 * p.B2;
                for (int i3 = 0; i3 < p.O3; i3++, yi++)
                {
                    int ia = ai + i3 * p.A3, ib = bi + i3 * p.B3;
                    float g = gy[yi];
                    switch (Kind)
                    {
                        case BinaryKind.Add:
                            if (needA) ga[ia] += g;
                            if (needB) gb[ib] += g;
                            break;
                        case BinaryKind.Sub:
                            if (needA) ga[ia] += g;
                            if (needB) gb[ib] -= g;
                            break;
                        case BinaryKind.Mul:
                            if (needA) ga[ia] += g * b[ib];
                            if (needB) gb[ib] += g * a[ia];
                            break;
                        default:
                            if (needA) ga[ia] += g / b[ib];
                            if (needB) gb[ib] -= g * y[yi] / b[ib];
                            break;
                    }
                }
            }
        }
    }

    /// <summary>x + s.</summary>
    public static Tensor AddScalar(Tensor x, float s)
    {
        var y = Tensor.Empty(x.Shape);
        TensorPrimitives.Add(x.Span, s, y.Span);
        if (Tape.ShouldRecord(x))
        {
            var n = ScaleNode.Rent();
            n.X = x; n.Scale = 1f;
            Tape.Record(n, y);
        }
        return y;
    }

    /// <summary>x · s.</summary>
    public static Tensor MulScalar(Tensor x, float s)
    {
        var y = Tensor.Empty(x.Shape);
        TensorPrimitives.Multiply(x.Span, s, y.Span);
        if (Tape.ShouldRecord(x))
        {
            var n = ScaleNode.Rent();
            n.X = x; n.Scale = s;
            Tape.Record(n, y);
        }
        return y;
    }

    /// <summary>s − x.</summary>
    public static Tensor RSub(float s, Tensor x) => AddScalar(MulScalar(x, -1f), s);

    private sealed class ScaleNode : Node<ScaleNode>
    {
        public Tensor X = null!;
        public float Scale;
        protected override void Clear() { X = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            var gx = X.GradSpan();
            TensorPrimitives.MultiplyAdd(Output.Grad!.Span, Scale, gx, gx);
        }
    }
}
