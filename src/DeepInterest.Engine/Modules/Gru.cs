namespace DeepInterest.Engine.Modules;

/// <summary>
/// One GRU layer (plain, AGRU or AUGRU; see <see cref="F.Gru"/>) with nn.GRU's keys
/// <c>weight_ih_l0</c> [3H, I], <c>weight_hh_l0</c> [3H, H], <c>bias_ih_l0</c>, <c>bias_hh_l0</c>,
/// initialized U(−1/√H, 1/√H) like PyTorch. Input is batch-first [B, T, I] with lengths [B].
/// </summary>
public sealed class Gru : Module
{
    public Tensor WeightIh { get; }
    public Tensor WeightHh { get; }
    public Tensor BiasIh { get; }
    public Tensor BiasHh { get; }
    public GruKind Kind { get; }
    public int HiddenSize { get; }

    public Gru(int inputSize, int hiddenSize, Rng rng, GruKind kind = GruKind.Gru)
    {
        if (inputSize < 1 || hiddenSize < 1) throw new ArgumentException($"Gru needs positive sizes, got input {inputSize}, hidden {hiddenSize}.");
        Kind = kind;
        HiddenSize = hiddenSize;
        float k = 1f / MathF.Sqrt(hiddenSize);
        WeightIh = RegisterParameter("weight_ih_l0", new Tensor(new Shape(3 * hiddenSize, inputSize)));
        WeightHh = RegisterParameter("weight_hh_l0", new Tensor(new Shape(3 * hiddenSize, hiddenSize)));
        BiasIh = RegisterParameter("bias_ih_l0", new Tensor(new Shape(3 * hiddenSize)));
        BiasHh = RegisterParameter("bias_hh_l0", new Tensor(new Shape(3 * hiddenSize)));
        foreach (var p in new[] { WeightIh, WeightHh, BiasIh, BiasHh }) Init.Uniform(p, -k, k, rng);
    }

    /// <summary>x [B, T, I], lengths [B], scores [B, T] for AGRU/AUGRU → outputs [B, T, H], last [B, H].</summary>
    public RnnResult Forward(Tensor x, IntTensor lengths, Tensor? scores = null, Tensor? h0 = null) =>
        F.Gru(x, lengths, WeightIh, WeightHh, BiasIh, BiasHh, h0, Kind, scores);
}
