using System.Numerics.Tensors;
using DeepInterest.Engine.Autograd;

namespace DeepInterest.Engine;

public static partial class F
{
    /// <summary>
    /// Takes columns [offset, offset + H·d) of x [B, T, C] and lays them out per head: → [B·H, T, d]
    /// (head h of batch row b at index b·H + h). Backward scatters back into those columns.
    /// </summary>
    public static Tensor SplitHeads(Tensor x, int offset, int heads, int headDim)
    {
        if (x.Rank != 3 || offset < 0 || offset + heads * headDim > x.Shape[2])
            throw new ArgumentException($"SplitHeads: columns [{offset}, {offset + heads * headDim}) do not fit {x.Shape}.");
        int b = x.Shape[0], t = x.Shape[1], c = x.Shape[2];
        var y = Tensor.Empty(new Shape(b * heads, t, headDim));
        HeadCopy(x.Span, y.Span, b, t, c, offset, heads, headDim, split: true);
        if (Tape.ShouldRecord(x))
        {
            var n = HeadsNode.Rent();
            n.X = x; n.Offset = offset; n.Heads = heads; n.HeadDim = headDim; n.Split = true;
            Tape.Record(n, y);
        }
        return y;
    }

    /// <summary>The inverse of <see cref="SplitHeads"/> with offset 0: [B·H, T, d] → [B, T, H·d].</summary>
    public static Tensor MergeHeads(Tensor x, int heads)
    {
        if (x.Rank != 3 || x.Shape[0] % heads != 0) throw new ArgumentException($"MergeHeads: {x.Shape} is not [B·{heads}, T, d].");
        int b = x.Shape[0] / heads, t = x.Shape[1], d = x.Shape[2];
        var y = Tensor.Empty(new Shape(b, t, heads * d));
        HeadCopy(y.Span, x.Span, b, t, heads * d, 0, heads, d, split: false);
        if (Tape.ShouldRecord(x))
        {
            var n = HeadsNode.Rent();
            n.X = x; n.Offset = 0; n.Heads = heads; n.HeadDim = d; n.Split = false;
            Tape.Record(n, y);
        }
        return y;
    }

    /// <summary>Copies between the [B, T, C] layout (columns from offset) and [B·H, T, d]; split: wide → heads.</summary>
    private static void HeadCopy(Span<float> wide, Span<float> heads, int b, int t, int c, int offset, int h, int d, bool split, bool add = false)
    {
        for (int i = 0; i < b; i++)
            for (int s = 0; s < t; s++)
                for (int j = 0; j < h; j++)
                {
                    var w = wide.Slice((i * t + s) * c + offset + j * d, d);
                    var hd = heads.Slice(((i * h + j) * t + s) * d, d);
                    if (split) { if (add) TensorPrimitives.Add(w, hd, w); else w.CopyTo(hd); }
                    else { if (add) TensorPrimitives.Add(hd, w, hd); else hd.CopyTo(w); }
                }
    }

    private sealed class HeadsNode : Node<HeadsNode>
    {
        public Tensor X = null!;
        public int Offset, Heads, HeadDim;
        public bool Split;
        protected override void Clear() { X = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            var gx = X.GradSpan(); var gy = Output.Grad!.Span;
            if (Split)
            {
                int b = X.Shape[0], t = X.Shape[1], c = X.Shape[2];
                // wide (gx) += heads (gy): the "split" direction with accumulation into the wide layout.
                HeadCopy(gx, gy, b, t, c, Offset, Heads, HeadDim, split: true, add: true);
            }
            else
            {
                int b = X.Shape[0] / Heads, t = X.Shape[1];
                HeadCopy(gy, gx, b, t, Heads * HeadDim, 0, Heads, HeadDim, split: false, add: true);
            }
        }
    }
}
