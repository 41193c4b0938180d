using DeepInterest.Engine.Autograd;

namespace DeepInterest.Engine.Modules;

/// <summary>
/// BatchNorm1d over the last axis (channels-last; see <see cref="F.BatchNorm"/>). Keys <c>weight</c>,
/// <c>bias</c> (when affine), buffers <c>running_mean</c>, <c>running_var</c>, as in PyTorch.
/// </summary>
public sealed class BatchNorm1d : Module
{
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }
    public Tensor RunningMean { get; }
    public Tensor RunningVar { get; }
    public float Eps { get; }
    public float Momentum { get; }

    public BatchNorm1d(int channels, float eps = 1e-5f, float momentum = 0.1f, bool affine = true)
    {
        if (channels < 1) throw new ArgumentException($"BatchNorm1d needs at least one channel, got {channels}.");
        if (!(eps > 0)) throw new ArgumentException($"BatchNorm1d eps must be positive, got {eps}.");
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentException($"BatchNorm1d momentum must be in [0, 1], got {momentum}.");
        Eps = eps;
        Momentum = momentum;
        if (affine)
        {
            Weight = RegisterParameter("weight", Tensor.Full(new Shape(channels), 1f));
            Bias = RegisterParameter("bias", new Tensor(new Shape(channels)));
        }
        RunningMean = RegisterBuffer("running_mean", new Tensor(new Shape(channels)));
        RunningVar = RegisterBuffer("running_var", Tensor.Full(new Shape(channels), 1f));
    }

    /// <summary>[N, C] or [B, T, C] (with an optional [B, T] mask of real positions) → same shape.</summary>
    public Tensor Forward(Tensor x, Mask? mask = null) =>
        F.BatchNorm(x, RunningMean, RunningVar, Weight, Bias, Training, Momentum, Eps, mask);
}

/// <summary>
/// Dice, the data-adaptive activation of the DIN paper (§4.3):
/// y = p·x + (1 − p)·α·x, p = σ((x − E[x]) / √(Var[x] + ε)), ε = 1e-8, with batch statistics in
/// training and running averages in evaluation, and a learned α per channel (key <c>alpha</c>,
/// initialized to 0). The statistics live in the child <c>bn</c>; the paper's Dice has no affine
/// parameters (affine = false), the seed tutorial's uses BatchNorm1d's γ, β (true).
/// </summary>
public sealed class Dice : Module
{
    public BatchNorm1d Bn { get; }
    public Tensor Alpha { get; }

    public Dice(int channels, bool affine = false, float eps = 1e-8f)
    {
        Bn = RegisterModule("bn", new BatchNorm1d(channels, eps, 0.1f, affine));
        Alpha = RegisterParameter("alpha", new Tensor(new Shape(channels)));
    }

    /// <summary>[N, C] or [B, T, C] (optional [B, T] mask: statistics over real positions) → same shape.</summary>
    public Tensor Forward(Tensor x, Mask? mask = null) =>
        F.Dice(x, Bn.RunningMean, Bn.RunningVar, Bn.Weight, Bn.Bias, Alpha, Training, Bn.Momentum, Bn.Eps, mask);
}

/// <summary>PReLU with one slope per channel (last axis) or a shared one; key <c>weight</c>, initialized to 0.25.</summary>
public sealed class PRelu : Module
{
    public Tensor Weight { get; }

    public PRelu(int numParameters = 1, float init = 0.25f)
    {
        Weight = RegisterParameter("weight", Tensor.Full(new Shape(numParameters), init));
    }

    public Tensor Forward(Tensor x) => F.PRelu(x, Weight);
}

/// <summary>Inverted dropout with its own seeded random stream; identity in evaluation mode.</summary>
public sealed class Dropout(float p, Rng rng) : Module
{
    public float P { get; } = p is >= 0 and < 1 ? p : throw new ArgumentOutOfRangeException(nameof(p), $"Dropout probability must be in [0, 1), got {p}.");
    public Rng Rng { get; } = rng;

    public Tensor Forward(Tensor x) => F.Dropout(x, P, Training, Rng);
}

/// <summary>Activations an <see cref="Mlp"/> layer can use.</summary>
public enum Activation { None, Relu, Sigmoid, Tanh, PRelu, Dice }

/// <summary>Options of an <see cref="Mlp"/>: hidden sizes, activation, dropout, batch norm.</summary>
public sealed record MlpOptions(int[] Hidden, Activation Activation = Activation.Relu, float Dropout = 0f, bool BatchNorm = false, bool DiceAffine = false)
{
    public void Validate(string what)
    {
        if (Hidden is null || Hidden.Length == 0) throw new ArgumentException($"{what}: hidden layer sizes must not be empty.");
        foreach (var h in Hidden) if (h < 1) throw new ArgumentException($"{what}: hidden layer sizes must be positive, got [{string.Join(", ", Hidden)}].");
        if (Dropout is < 0 or >= 1) throw new ArgumentException($"{what}: dropout must be in [0, 1), got {Dropout}.");
    }
}

/// <summary>
/// A stack of layers, each Linear → (BatchNorm1d) → activation → (Dropout), in the seed tutorial's
/// order. Keys: <c>layers.{i}.linear.weight</c>, <c>layers.{i}.bn.*</c>, <c>layers.{i}.act.*</c>
/// (PReLU <c>weight</c>, Dice <c>alpha</c> and <c>bn.*</c>). Works on [N, F] and [B, T, F]; the
/// optional mask [B, T] keeps padded positions out of batch statistics.
/// </summary>
public sealed class Mlp : Module
{
    private readonly List<MlpLayer> _layers = new();

    public int OutFeatures { get; }

    public Mlp(int inFeatures, MlpOptions options, Rng rng)
    {
        options.Validate("Mlp");
        var list = RegisterModule("layers", new ModuleList());
        int prev = inFeatures;
        foreach (var h in options.Hidden)
        {
            var layer = list.Add(new MlpLayer(prev, h, options, rng));
            _layers.Add(layer);
            prev = h;
        }
        OutFeatures = prev;
    }

    public Tensor Forward(Tensor x, Mask? mask = null)
    {
        foreach (var l in _layers) x = l.Forward(x, mask);
        return x;
    }

    internal IReadOnlyList<MlpLayer> Layers => _layers;

    /// <summary>The first layer's linear map (callers that compute it in a fused way read its weights).</summary>
    public Linear FirstLinear => _layers[0].Linear;

    /// <summary>Runs the MLP given the first layer's pre-activation z = x·W₀ᵀ + b₀ (computed by the caller).</summary>
    public Tensor ForwardFromFirstLinear(Tensor z, Mask? mask = null)
    {
        var x = _layers[0].ForwardAfterLinear(z, mask);
        for (int i = 1; i < _layers.Count; i++) x = _layers[i].Forward(x, mask);
        return x;
    }
}

/// <summary>One Linear → (BatchNorm) → activation → (Dropout) layer of an <see cref="Mlp"/>.</summary>
public sealed class MlpLayer : Module
{
    private readonly Linear _linear;
    private readonly BatchNorm1d? _bn;
    private readonly Module? _act;
    private readonly Activation _kind;
    private readonly Dropout? _dropout;

    public MlpLayer(int inFeatures, int outFeatures, MlpOptions o, Rng rng)
    {
        _linear = RegisterModule("linear", new Linear(inFeatures, outFeatures, rng));
        if (o.BatchNorm) _bn = RegisterModule("bn", new BatchNorm1d(outFeatures));
        _kind = o.Activation;
        if (_kind == Activation.PRelu) _act = RegisterModule("act", new PRelu(1));
        if (_kind == Activation.Dice) _act = RegisterModule("act", new Dice(outFeatures, o.DiceAffine));
        if (o.Dropout > 0) _dropout = RegisterModule("dropout", new Dropout(o.Dropout, new Rng(rng.NextUInt())));
    }

    public Linear Linear => _linear;
    internal BatchNorm1d? Norm => _bn;
    internal Activation Kind => _kind;
    internal Module? Act => _act;

    public Tensor Forward(Tensor x, Mask? mask) => ForwardAfterLinear(_linear.Forward(x), mask);

    /// <summary>Batch norm, activation and dropout on the linear map's output.</summary>
    public Tensor ForwardAfterLinear(Tensor x, Mask? mask)
    {
        if (_bn is not null) x = _bn.Forward(x, mask);
        x = _kind switch
        {
            Activation.Relu => F.Relu(x),
            Activation.Sigmoid => F.Sigmoid(x),
            Activation.Tanh => F.Tanh(x),
            Activation.PRelu => ((PRelu)_act!).Forward(x),
            Activation.Dice => ((Dice)_act!).Forward(x, mask),
            _ => x,
        };
        return _dropout is null ? x : _dropout.Forward(x);
    }
}

/// <summary>A list of modules registered under their indices ("0", "1", …), like nn.ModuleList.</summary>
public sealed class ModuleList : Module
{
    private readonly List<Module> _items = new();

    public T Add<T>(T module) where T : Module
    {
        RegisterModule(_items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
        _items.Add(module);
        return module;
    }

    public int Count => _items.Count;
    public Module this[int i] => _items[i];
}

/// <summary>
/// DIN's local activation unit (paper §4.3, Fig. 2): for a query q [B, E] and keys k [B, T, E],
/// the score of every real position is s = fc(MLP([q, k, q − k, q ⊙ k])) → [B, T]; masked positions
/// get score 0 (callers mask the weights). Keys <c>mlp.*</c>, <c>fc.*</c>.
/// Only real positions are computed: they are gathered into [N, E] rows first, so padding costs
/// nothing and the MLP's batch statistics (BatchNorm, Dice) are over real behaviours only. The first
/// layer is applied in split form (see <see cref="Forward"/>): the same function with half the arithmetic.
/// </summary>
public sealed partial class ActivationUnit : Module
{
    public Mlp Mlp { get; }
    public Linear Fc { get; }

    public ActivationUnit(int embedDim, MlpOptions options, Rng rng)
    {
        Mlp = RegisterModule("mlp", new Mlp(4 * embedDim, options, rng));
        Fc = RegisterModule("fc", new Linear(Mlp.OutFeatures, 1, rng));
    }

    public Tensor Forward(Tensor query, Tensor keys, Mask mask)
    {
        if (query.Rank != 2 || keys.Rank != 3 || query.Shape[0] != keys.Shape[0] || query.Shape[1] != keys.Shape[2])
            throw new ArgumentException($"ActivationUnit: needs query [B, E] and keys [B, T, E], got {query.Shape} and {keys.Shape}.");
        int b = keys.Shape[0], t = keys.Shape[1];
        if (mask.Batch != b || mask.Steps != t) throw new ArgumentException($"ActivationUnit: mask [{mask.Batch}, {mask.Steps}] does not fit keys {keys.Shape}.");
        // The call's own index lists (the attention nodes keep them until backward): the real
        // positions in row order and where each batch row's positions start.
        var keyRows = Arena.Ints(b * t);
        var rowStarts = Arena.Ints(b + 1);
        var m = mask.Values;
        int n = 0;
        for (int r = 0; r < b; r++)
        {
            rowStarts[r] = n;
            for (int i = r * t; i < (r + 1) * t; i++) if (m[i]) keyRows[n++] = i;
        }
        rowStarts[b] = n;
        var (keyWeight, queryTerm) = SplitFirstLayer(query);
        if (!Training && !Tape.GradEnabled) return ScoreFused(query, keys, n, keyWeight, queryTerm, keyRows, rowStarts);
        var perKey = F.Linear(F.KeyFeatures(query, keys, keyRows, rowStarts), keyWeight);   // [N, H] from [N, 2E] = [k, q⊙k]
        var z = F.AddRowBroadcast(perKey, queryTerm, rowStarts);                           // [N, H]
        var h = Mlp.ForwardFromFirstLinear(z);                                             // [N, H']
        return F.ScatterRows(Fc.Forward(h), keyRows, new Shape(b, t));                     // [B, T]
    }

    /// <summary>
    /// The first layer in split form: W₀·[q, k, q−k, q⊙k] + b₀ = (W_k − W_d)·k + W_p·(q⊙k) + [(W_q + W_d)·q + b₀],
    /// so the q part is computed once per row of the batch, not per behaviour, and the [N, 4E]
    /// concatenation is never built. Returns the weight [H, 2E] for [k, q⊙k] and the query term [B, H].
    /// </summary>
    private (Tensor KeyWeight, Tensor QueryTerm) SplitFirstLayer(Tensor query)
    {
        int e = query.Shape[1];
        var w0 = Mlp.FirstLinear;
        Tensor wq = F.SliceLast(w0.Weight, 0, e), wk = F.SliceLast(w0.Weight, e, e);
        Tensor wd = F.SliceLast(w0.Weight, 2 * e, e), wp = F.SliceLast(w0.Weight, 3 * e, e);
        return (F.ConcatLast(F.Sub(wk, wd), wp), F.Linear(query, F.Add(wq, wd), w0.Bias));
    }
}

/// <summary>LayerNorm over the last axis with keys <c>weight</c> (ones) and <c>bias</c> (zeros), eps 1e-5, like nn.LayerNorm.</summary>
public sealed class LayerNorm : Module
{
    public Tensor Weight { get; }
    public Tensor Bias { get; }
    public float Eps { get; }

    public LayerNorm(int dim, float eps = 1e-5f)
    {
        if (dim < 1) throw new ArgumentException($"LayerNorm needs a positive size, got {dim}.");
        Eps = eps;
        Weight = RegisterParameter("weight", Tensor.Full(new Shape(dim), 1f));
        Bias = RegisterParameter("bias", new Tensor(new Shape(dim)));
    }

    public Tensor Forward(Tensor x) => F.LayerNorm(x, Weight, Bias, Eps);
}
