namespace DeepInterest.Engine.Modules;

/// <summary>
/// One LSTM layer, optionally bidirectional, with nn.LSTM's keys (<c>weight_ih_l0</c> [4H, I],
/// <c>weight_hh_l0</c> [4H, H], <c>bias_ih_l0</c>, <c>bias_hh_l0</c>, and the same with
/// <c>_reverse</c>), init U(−1/√H, 1/√H). Batch-first with lengths (packed-sequence semantics).
/// Bidirectional outputs are [B, T, 2H] (forward ‖ reverse, as PyTorch concatenates) and the last
/// states [B, 2H] are (forward at len − 1 ‖ reverse after reading back to step 0).
/// </summary>
public sealed class Lstm : Module
{
    private readonly Tensor[] _fwd, _rev = [];

    public bool Bidirectional { get; }
    public int HiddenSize { get; }

    public Lstm(int inputSize, int hiddenSize, Rng rng, bool bidirectional = false)
    {
        if (inputSize < 1 || hiddenSize < 1) throw new ArgumentException($"Lstm needs positive sizes, got input {inputSize}, hidden {hiddenSize}.");
        HiddenSize = hiddenSize;
        Bidirectional = bidirectional;
        _fwd = Direction("", inputSize, hiddenSize, rng);
        if (bidirectional) _rev = Direction("_reverse", inputSize, hiddenSize, rng);
    }

    private Tensor[] Direction(string suffix, int inputSize, int h, Rng rng)
    {
        float k = 1f / MathF.Sqrt(h);
        var ps = new[]
        {
            RegisterParameter("weight_ih_l0" + suffix, new Tensor(new Shape(4 * h, inputSize))),
            RegisterParameter("weight_hh_l0" + suffix, new Tensor(new Shape(4 * h, h))),
            RegisterParameter("bias_ih_l0" + suffix, new Tensor(new Shape(4 * h))),
            RegisterParameter("bias_hh_l0" + suffix, new Tensor(new Shape(4 * h))),
        };
        foreach (var p in ps) Init.Uniform(p, -k, k, rng);
        return ps;
    }

    public RnnResult Forward(Tensor x, IntTensor lengths)
    {
        var f = F.Lstm(x, lengths, _fwd[0], _fwd[1], _fwd[2], _fwd[3]);
        if (!Bidirectional) return f;
        var r = F.Lstm(F.ReverseSteps(x, lengths), lengths, _rev[0], _rev[1], _rev[2], _rev[3]);
        return new RnnResult(F.ConcatLast(f.Outputs, F.ReverseSteps(r.Outputs, lengths)), F.ConcatLast(f.Last, r.Last));
    }
}
