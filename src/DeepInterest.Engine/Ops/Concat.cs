using DeepInterest.Engine.Autograd;

namespace DeepInterest.Engine;

public static partial class F
{
    /// <summary>Concatenation along the last axis: [..., D₁] ‖ [..., D₂] → [..., D₁ + D₂] (leading dims equal).</summary>
    public static Tensor ConcatLast(Tensor a, Tensor b) => ConcatLastCore(a, b, null, null, 2);
    public static Tensor ConcatLast(Tensor a, Tensor b, Tensor c) => ConcatLastCore(a, b, c, null, 3);
    public static Tensor ConcatLast(Tensor a, Tensor b, Tensor c, Tensor d) => ConcatLastCore(a, b, c, d, 4);

    /// <summary>Concatenation of any number of tensors along the last axis.</summary>
    public static Tensor ConcatLast(IReadOnlyList<Tensor> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("ConcatLast: no tensors given.");
        var acc = parts[0];
        if (parts.Count == 1) return acc;
        // Pairwise for long lists keeps the node type simple; the models concatenate a handful of parts.
        for (int i = 1; i < parts.Count; i++) acc = ConcatLast(acc, parts[i]);
        return acc;
    }

    private static Tensor ConcatLastCore(Tensor a, Tensor b, Tensor? c, Tensor? d, int count)
    {
        int rows = a.Shape.Rows, total = 0;
        for (int i = 0; i < count; i++)
        {
            var t = i switch { 0 => a, 1 => b, 2 => c!, _ => d! };
            if (t.Rank != a.Rank || t.Shape.Rows != rows || (t.Rank > 1 && t.Shape.DropLast() != a.Shape.DropLast()))
                throw new ArgumentException($"ConcatLast: part {i} has shape {t.Shape}, incompatible with {a.Shape}.");
            total += t.Shape.Last;
        }
        var y = Tensor.Empty(a.Shape.WithLast(total));
        int off = 0;
        for (int i = 0; i < count; i++)
        {
            var t = i switch { 0 => a, 1 => b, 2 => c!, _ => d! };
            int w = t.Shape.Last;
            var k = new CopyColumns { Src = t.Buffer, SrcWidth = w, Dst = y.Buffer, DstWidth = total, Offset = off };
            Kernels.ChannelKernels.ForRows(rows, total, ref k);
            off += w;
        }
        if (Tape.GradEnabled && (a.RequiresGrad || b.RequiresGrad || (c?.RequiresGrad ?? false) || (d?.RequiresGrad ?? false)))
        {
            var n = ConcatNode.Rent();
            n.A = a; n.B = b; n.C = c; n.D = d; n.Count = count;
            Tape.Record(n, y);
        }
        return y;
    }

    /// <summary>
    /// Rows [start, end): forward Dst[r, Offset .. Offset + SrcWidth) = Src[r, :]; backward (gradients)
    /// Dst[r, :] += Src[r, Offset .. Offset + DstWidth).
    /// </summary>
    private struct CopyColumns : Kernels.IRangeKernel
    {
        public float[] Src, Dst;
        public int SrcWidth, DstWidth, Offset;
        public bool Backward;

        public void Run(int start, int end)
        {
            for (int r = start; r < end; r++)
            {
                if (!Backward) { Src.AsSpan(r * SrcWidth, SrcWidth).CopyTo(Dst.AsSpan(r * DstWidth + Offset, SrcWidth)); continue; }
                var d = Dst.AsSpan(r * DstWidth, DstWidth);
                System.Numerics.Tensors.TensorPrimitives.Add(d, Src.AsSpan(r * SrcWidth + Offset, DstWidth), d);
            }
        }
    }

    private sealed class ConcatNode : Node<ConcatNode>
    {
        public Tensor A = null!, B = null!;
        public Tensor? C, D;
        public int Count;
        protected override void Clear() { A = B = null!; C = D = null; }

        public override void Backward()
        {
            int rows = A.Shape.Rows, total = Output.Shape.Last, off = 0;
            for (int i = 0; i < Count; i++)
            {
                var t = i switch { 0 => A, 1 => B, 2 => C!, _ => D! };
                int w = t.Shape.Last;
                if (t.RequiresGrad)
                {
                    t.GradSpan();
                    var k = new CopyColumns { Src = Output.Grad!.Buffer, SrcWidth = total, Dst = t.Grad!.Buffer, DstWidth = w, Offset = off, Backward = true };
                    Kernels.ChannelKernels.ForRows(rows, total, ref k);
                }
                off += w;
            }
        }
    }
}

public static partial class F
{
    /// <summary>Stacks a [Na, E] on b [Nb, E] → [Na + Nb, E] (rows of a first); backward splits the gradient.</summary>
    public static Tensor ConcatRows(Tensor a, Tensor b)
    {
        if (a.Rank != 2 || b.Rank != 2 || a.Shape[1] != b.Shape[1])
            throw new ArgumentException($"ConcatRows: needs [Na, E] and [Nb, E], got {a.Shape} and {b.Shape}.");
        var y = Tensor.Empty(new Shape(a.Shape[0] + b.Shape[0], a.Shape[1]));
        a.Span.CopyTo(y.Span); b.Span.CopyTo(y.Span[a.Size..]);
        if (Tape.ShouldRecord(a, b))
        {
            var n = ConcatRowsNode.Rent();
            n.A = a; n.B = b;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class ConcatRowsNode : Node<ConcatRowsNode>
    {
        public Tensor A = null!, B = null!;
        protected override void Clear() { A = B = null!; }

        public override void Backward()
        {
            var gy = Output.Grad!.Span;
            if (A.RequiresGrad) { var d = A.GradSpan(); System.Numerics.Tensors.TensorPrimitives.Add(d, gy[..A.Size], d); }
            if (B.RequiresGrad) { var d = B.GradSpan(); System.Numerics.Tensors.TensorPrimitives.Add(d, gy.Slice(A.Size, B.Size), d); }
        }
    }

    /// <summary>Repeats x [B, E] along a new time axis: → [B, T, E]; backward sums over T.</summary>
    public static Tensor RepeatSteps(Tensor x, int steps)
    {
        if (x.Rank != 2 || steps < 0) throw new ArgumentException($"RepeatSteps: needs [B, E] and T ≥ 0, got {x.Shape} and {steps}.");
        int b = x.Shape[0], e = x.Shape[1];
        var y = Tensor.Empty(new Shape(b, steps, e));
        var xs = x.Span; var ys = y.Span;
        for (int i = 0; i < b; i++)
            for (int t = 0; t < steps; t++) xs.Slice(i * e, e).CopyTo(ys.Slice((i * steps + t) * e, e));
        if (Tape.ShouldRecord(x))
        {
            var n = RepeatNode.Rent();
            n.X = x;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class RepeatNode : Node<RepeatNode>
    {
        public Tensor X = null!;
        protected override void Clear() { X = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            int b = X.Shape[0], e = X.Shape[1], steps = Output.Shape[1];
            var gx = X.GradSpan(); var gy = Output.Grad!.Span;
            for (int i = 0; i < b; i++)
            {
                var d = gx.Slice(i * e, e);
                for (int t = 0; t < steps; t++) System.Numerics.Tensors.TensorPrimitives.Add(d, gy.Slice((i * steps + t) * e, e), d);
            }
        }
    }
}

public static partial class F
{
    /// <summary>Steps [start, start + length) of x [B, T, E] → [B, length, E]; backward scatters into those steps.</summary>
    public static Tensor SliceSteps(Tensor x, int start, int length)
    {
        if (x.Rank != 3 || start < 0 || length < 0 || start + length > x.Shape[1])
            throw new ArgumentException($"SliceSteps: steps [{start}, {start + length}) are outside {x.Shape}.");
        int b = x.Shape[0], t = x.Shape[1], e = x.Shape[2];
        var y = Tensor.Empty(new Shape(b, length, e));
        var xs = x.Span; var ys = y.Span;
        for (int i = 0; i < b; i++) xs.Slice((i * t + start) * e, length * e).CopyTo(ys.Slice(i * length * e, length * e));
        if (Tape.ShouldRecord(x))
        {
            var n = SliceStepsNode.Rent();
            n.X = x; n.Start = start;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class SliceStepsNode : Node<SliceStepsNode>
    {
        public Tensor X = null!;
        public int Start;
        protected override void Clear() { X = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            int b = X.Shape[0], t = X.Shape[1], e = X.Shape[2], len = Output.Shape[1];
            var gx = X.GradSpan(); var gy = Output.Grad!.Span;
            for (int i = 0; i < b; i++)
            {
                var d = gx.Slice((i * t + Start) * e, len * e);
                System.Numerics.Tensors.TensorPrimitives.Add(d, gy.Slice(i * len * e, len * e), d);
            }
        }
    }
}

public static partial class F
{
    /// <summary>Columns [start, start + length) of the last axis: [..., D] → [..., length] (split = several slices).</summary>
    public static Tensor SliceLast(Tensor x, int start, int length)
    {
        int d = x.Shape.Last, rows = x.Shape.Rows;
        if (start < 0 || length < 0 || start + length > d) throw new ArgumentException($"SliceLast: columns [{start}, {start + length}) are outside {x.Shape}.");
        var y = Tensor.Empty(x.Shape.WithLast(length));
        var xs = x.Span; var ys = y.Span;
        for (int r = 0; r < rows; r++) xs.Slice(r * d + start, length).CopyTo(ys.Slice(r * length, length));
        if (Tape.ShouldRecord(x))
        {
            var n = SliceLastNode.Rent();
            n.X = x; n.Start = start;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class SliceLastNode : Node<SliceLastNode>
    {
        public Tensor X = null!;
        public int Start;
        protected override void Clear() { X = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            int d = X.Shape.Last, rows = X.Shape.Rows, len = Output.Shape.Last;
            var gx = X.GradSpan(); var gy = Output.Grad!.Span;
            for (int r = 0; r < rows; r++)
            {
                var dst = gx.Slice(r * d + Start, len);
                System.Numerics.Tensors.TensorPrimitives.Add(dst, gy.Slice(r * len, len), dst);
            }
        }
    }

    /// <summary>
    /// Broadcasts x to <paramref name="shape"/> (NumPy rules: size-1 or missing leading axes stretch),
    /// e.g. [B, 1, E] → [B, T, E]; backward sums over the stretched axes.
    /// </summary>
    public static Tensor Expand(Tensor x, Shape shape)
    {
        var plan = new BroadcastPlan(x.Shape, shape, "Expand");
        if (plan.Out != shape) throw new ArgumentException($"Expand: {x.Shape} cannot be expanded to {shape}.");
        // x + 0 over the target shape reuses the broadcasting kernel and its reduction in backward.
        return Add(x, Tensor.ZerosTemp(shape));
    }
}
