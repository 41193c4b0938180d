namespace DeepInterest.Engine.Modules;

/// <summary>
/// Weight initializers (PyTorch's <c>torch.nn.init</c> formulas), drawing from a seeded <see cref="Rng"/>.
/// fan_in/fan_out follow PyTorch: for [O, I] weights fan_in = I, fan_out = O; for higher ranks
/// the trailing dimensions multiply into the receptive field.
/// </summary>
public static class Init
{
    public static (int FanIn, int FanOut) Fans(Shape s)
    {
        if (s.Rank < 2) throw new ArgumentException($"Fan in/out need at least 2 dimensions, got {s}.");
        int receptive = 1;
        for (int i = 2; i < s.Rank; i++) receptive *= s[i];
        return (s[1] * receptive, s[0] * receptive);
    }

    public static void Uniform(Tensor t, float low, float high, Rng rng)
    {
        var d = t.Span;
        for (int i = 0; i < d.Length; i++) d[i] = low + (high - low) * rng.NextFloat();
    }

    public static void Normal(Tensor t, float mean, float std, Rng rng)
    {
        var d = t.Span;
        for (int i = 0; i < d.Length; i++) d[i] = (float)(mean + std * rng.NextGaussian());
    }

    public static void Constant(Tensor t, float value) => t.Span.Fill(value);

    /// <summary>U(−a, a) with a = gain·√(6 / (fan_in + fan_out)).</summary>
    public static void XavierUniform(Tensor t, Rng rng, float gain = 1f)
    {
        var (fi, fo) = Fans(t.Shape);
        float a = gain * MathF.Sqrt(6f / (fi + fo));
        Uniform(t, -a, a, rng);
    }

    /// <summary>N(0, std²) with std = gain·√(2 / (fan_in + fan_out)).</summary>
    public static void XavierNormal(Tensor t, Rng rng, float gain = 1f)
    {
        var (fi, fo) = Fans(t.Shape);
        Normal(t, 0f, gain * MathF.Sqrt(2f / (fi + fo)), rng);
    }

    /// <summary>
    /// U(−b, b) with b = gain·√(3 / fan_in), gain = √(2 / (1 + a²)) (leaky-ReLU slope a).
    /// With a = √5 this is PyTorch's default for Linear weights: U(−1/√fan_in, 1/√fan_in).
    /// </summary>
    public static void KaimingUniform(Tensor t, Rng rng, float a = 0f)
    {
        var (fi, _) = Fans(t.Shape);
        float gain = MathF.Sqrt(2f / (1f + a * a));
        float b = gain * MathF.Sqrt(3f / fi);
        Uniform(t, -b, b, rng);
    }

    /// <summary>N(0, std²) with std = gain / √fan_in.</summary>
    public static void KaimingNormal(Tensor t, Rng rng, float a = 0f)
    {
        var (fi, _) = Fans(t.Shape);
        float gain = MathF.Sqrt(2f / (1f + a * a));
        Normal(t, 0f, gain / MathF.Sqrt(fi), rng);
    }
}
