using DeepInterest.Engine.Autograd;

namespace DeepInterest.Engine;

public static partial class F
{
    /// <summary>
    /// Mean binary cross-entropy on logits, computed stably as
    /// ℓ = max(x, 0) − x·y + log(1 + e^−|x|); gradient (σ(x) − y)/N to the logits only.
    /// </summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor logits, Tensor targets)
    {
        if (logits.Size != targets.Size)
            throw new ArgumentException($"BinaryCrossEntropyWithLogits: {logits.Size} logits but {targets.Size} targets.");
        var x = logits.Span; var t = targets.Span;
        double s = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double xi = x[i];
            s += Math.Max(xi, 0) - xi * t[i] + Math.Log(1 + Math.Exp(-Math.Abs(xi)));
        }
        var y = Tensor.Empty(Shape.Scalar);
        y.Span[0] = (float)(s / Math.Max(1, x.Length));
        if (Tape.ShouldRecord(logits))
        {
            var n = BceLogitsNode.Rent();
            n.X = logits; n.T = targets;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class BceLogitsNode : Node<BceLogitsNode>
    {
        public Tensor X = null!, T = null!;
        protected override void Clear() { X = T = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            var x = X.Span; var t = T.Span; var g = X.GradSpan();
            float scale = Output.Grad!.Span[0] / Math.Max(1, x.Length);
            for (int i = 0; i < x.Length; i++)
            {
                float sig = 1f / (1f + MathF.Exp(-x[i]));
                g[i] += scale * (sig - t[i]);
            }
        }
    }

    /// <summary>
    /// Mean binary cross-entropy on probabilities, ℓ = −(y·log p + (1 − y)·log(1 − p)) with each
    /// log clamped to ≥ −100 as in PyTorch, so p = 0 or 1 gives a finite loss.
    /// </summary>
    public static Tensor BinaryCrossEntropy(Tensor probs, Tensor targets)
    {
        if (probs.Size != targets.Size)
            throw new ArgumentException($"BinaryCrossEntropy: {probs.Size} probabilities but {targets.Size} targets.");
        var p = probs.Span; var t = targets.Span;
        double s = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double lp = Math.Max(Math.Log(p[i]), -100), lq = Math.Max(Math.Log(1 - (double)p[i]), -100);
            s -= t[i] * lp + (1 - t[i]) * lq;
        }
        var y = Tensor.Empty(Shape.Scalar);
        y.Span[0] = (float)(s / Math.Max(1, p.Length));
        if (Tape.ShouldRecord(probs))
        {
            var n = BceNode.Rent();
            n.P = probs; n.T = targets;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class BceNode : Node<BceNode>
    {
        public Tensor P = null!, T = null!;
        protected override void Clear() { P = T = null!; }

        // d/dp of −(y log p + (1−y) log(1−p)) = (p − y) / (p (1 − p)); PyTorch clamps the
        // denominator at 1e-12 so saturated probabilities give a large but finite slope.
        public override void Backward()
        {
            if (!P.RequiresGrad) return;
            var p = P.Span; var t = T.Span; var g = P.GradSpan();
            float scale = Output.Grad!.Span[0] / Math.Max(1, p.Length);
            for (int i = 0; i < p.Length; i++)
                g[i] += scale * (p[i] - t[i]) / MathF.Max((1f - p[i]) * p[i], 1e-12f);
        }
    }
}

public static partial class F
{
    /// <summary>
    /// Binary cross-entropy on logits [B, T] averaged over the real positions of mask [B, T] only
    /// (padded positions add nothing and get no gradient); 0 when no position is real.
    /// Used for DIEN's auxiliary loss.
    /// </summary>
    public static Tensor MaskedBinaryCrossEntropyWithLogits(Tensor logits, float target, Mask mask)
    {
        if (logits.Rank != 2) throw new ArgumentException($"MaskedBinaryCrossEntropyWithLogits: logits must be [B, T], got {logits.Shape}.");
        CheckMask(mask, logits.Shape[0], logits.Shape[1], "MaskedBinaryCrossEntropyWithLogits");
        var x = logits.Span; var m = mask.Values;
        double s = 0;
        int n = 0;
        for (int i = 0; i < x.Length; i++)
        {
            if (!m[i]) continue;
            double xi = x[i];
            s += Math.Max(xi, 0) - xi * target + Math.Log(1 + Math.Exp(-Math.Abs(xi)));
            n++;
        }
        var y = Tensor.Empty(Shape.Scalar);
        y.Span[0] = n == 0 ? 0f : (float)(s / n);
        if (Tape.ShouldRecord(logits))
        {
            var node = MaskedBceNode.Rent();
            node.X = logits; node.Target = target; node.M = mask; node.Count = n;
            Tape.Record(node, y);
        }
        return y;
    }

    private sealed class MaskedBceNode : Node<MaskedBceNode>
    {
        public Tensor X = null!;
        public Mask M = null!;
        public float Target;
        public int Count;
        protected override void Clear() { X = null!; M = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad || Count == 0) return;
            var x = X.Span; var m = M.Values; var g = X.GradSpan();
            float scale = Output.Grad!.Span[0] / Count;
            for (int i = 0; i < x.Length; i++)
                if (m[i]) g[i] += scale * (1f / (1f + MathF.Exp(-x[i])) - Target);
        }
    }
}
