namespace DeepInterest.Engine.Modules;

/// <summary>
/// Fully connected layer y = x·Wᵀ + b with W [out, in] and b [out] (keys <c>weight</c>, <c>bias</c>).
/// Default initialization is PyTorch's: W, b ~ U(−1/√in, 1/√in).
/// </summary>
public sealed class Linear : Module
{
    public Tensor Weight { get; }
    public Tensor? Bias { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }

    public Linear(int inFeatures, int outFeatures, Rng rng, bool bias = true)
    {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentException($"Linear needs positive sizes, got in={inFeatures}, out={outFeatures}.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = RegisterParameter("weight", new Tensor(new Shape(outFeatures, inFeatures)));
        Init.KaimingUniform(Weight, rng, MathF.Sqrt(5f));
        if (bias)
        {
            Bias = RegisterParameter("bias", new Tensor(new Shape(outFeatures)));
            float bound = 1f / MathF.Sqrt(inFeatures);
            Init.Uniform(Bias, -bound, bound, rng);
        }
    }

    /// <summary>[..., in] → [..., out].</summary>
    public Tensor Forward(Tensor x) => F.Linear(x, Weight, Bias);
}
