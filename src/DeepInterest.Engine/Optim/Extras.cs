using System.Numerics.Tensors;

namespace DeepInterest.Engine.Optim;

/// <summary>Options of <see cref="Adagrad"/> (<c>torch.optim.Adagrad</c>).</summary>
public sealed record AdagradOptions(float Lr = 0.01f, float LrDecay = 0f, float WeightDecay = 0f, float InitialAccumulator = 0f, float Eps = 1e-10f)
{
    public AdagradOptions Validate()
    {
        if (!(Lr > 0)) throw new ArgumentException($"Adagrad: lr must be positive, got {Lr}.");
        if (!(LrDecay >= 0)) throw new ArgumentException($"Adagrad: lr_decay must be ≥ 0, got {LrDecay}.");
        if (!(WeightDecay >= 0)) throw new ArgumentException($"Adagrad: weight_decay must be ≥ 0, got {WeightDecay}.");
        if (!(InitialAccumulator >= 0)) throw new ArgumentException($"Adagrad: initial_accumulator_value must be ≥ 0, got {InitialAccumulator}.");
        if (!(Eps > 0)) throw new ArgumentException($"Adagrad: eps must be positive, got {Eps}.");
        return this;
    }
}

/// <summary>
/// Adagrad as PyTorch 1.13: g ← g + wd·p; clr = lr / (1 + (t − 1)·lr_decay); s ← s + g²; p ← p − clr·g/(√s + ε).
/// Row-sparse gradients update only their rows (for untouched rows g = 0 changes nothing unless
/// weight decay is set, in which case every row is updated as PyTorch's dense path does).
/// </summary>
public sealed class Adagrad : Optimizer
{
    private readonly AdagradOptions _o;
    private readonly float[][] _sum;

    public Adagrad(IEnumerable<(string Name, Tensor Parameter)> parameters, AdagradOptions options) : base(parameters, options.Validate().Lr)
    {
        _o = options;
        _sum = Parameters.Select(p => Enumerable.Repeat(options.InitialAccumulator, p.Parameter.Size).ToArray()).ToArray();
    }

    public override void Step()
    {
        StepCount++;
        float clr = LearningRate / (1 + (StepCount - 1) * _o.LrDecay);
        for (int k = 0; k < Parameters.Count; k++)
        {
            var p = Parameters[k].Parameter;
            var ps = p.Span; var s = _sum[k].AsSpan();
            if (p.SparseGrad is { Count: > 0 } sg && p.Grad is null && _o.WeightDecay == 0)
            {
                for (int i = 0; i < sg.Count; i++)
                {
                    int off = sg.Rows[i] * sg.Width;
                    Update(ps.Slice(off, sg.Width), sg.Values(i), s.Slice(off, sg.Width), clr);
                }
                continue;
            }
            if (p.Grad is null && p.SparseGrad is not { Count: > 0 }) continue;
            var g = p.Grad is null ? new float[p.Size] : p.Grad.ToArray();
            p.SparseGrad?.AddToDense(g);
            Update(ps, g, s, clr);
        }
    }

    private void Update(Span<float> p, ReadOnlySpan<float> grad, Span<float> s, float clr)
    {
        for (int i = 0; i < p.Length; i++)
        {
            float g = grad[i] + _o.WeightDecay * p[i];
            s[i] += g * g;
            p[i] -= clr * g / (MathF.Sqrt(s[i]) + _o.Eps);
        }
    }

    public override IReadOnlyList<KeyValuePair<string, Tensor>> StateDict()
    {
        var list = new List<KeyValuePair<string, Tensor>> { new("step", Tensor.FromArray([StepCount], 1)), new("lr", Tensor.FromArray([LearningRate], 1)) };
        for (int k = 0; k < Parameters.Count; k++) list.Add(new($"state.{Parameters[k].Name}.sum", new Tensor(_sum[k], Parameters[k].Parameter.Shape)));
        return list;
    }

    public override void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        foreach (var (key, t) in StateDict())
            if (!state.TryGetValue(key, out var v) || v.Size != t.Size) throw new Modules.StateDictException($"optimizer state does not match: '{key}' is missing or has the wrong size");
        StepCount = (long)state["step"].Span[0];
        LearningRate = state["lr"].Span[0];
        for (int k = 0; k < Parameters.Count; k++) state[$"state.{Parameters[k].Name}.sum"].Span.CopyTo(_sum[k]);
    }
}

/// <summary>Learning-rate schedules stepped once per epoch (PyTorch's StepLR and ExponentialLR).</summary>
public sealed class LrSchedule
{
    private readonly Optimizer _opt;
    private readonly float _gamma;
    private readonly int _stepSize;

    private LrSchedule(Optimizer opt, float gamma, int stepSize)
    {
        if (!(gamma > 0)) throw new ArgumentException($"Learning-rate schedule: gamma must be positive, got {gamma}.");
        if (stepSize < 1) throw new ArgumentException($"Learning-rate schedule: step_size must be ≥ 1, got {stepSize}.");
        (_opt, _gamma, _stepSize) = (opt, gamma, stepSize);
    }

    /// <summary>lr = base·γ^⌊epoch / step_size⌋.</summary>
    public static LrSchedule Step(Optimizer opt, int stepSize, float gamma = 0.1f) => new(opt, gamma, stepSize);

    /// <summary>lr = base·γ^epoch.</summary>
    public static LrSchedule Exponential(Optimizer opt, float gamma) => new(opt, gamma, 1);

    /// <summary>Epochs completed (saved with checkpoints).</summary>
    public int LastEpoch { get; set; }

    /// <summary>Call at the end of every epoch.</summary>
    public void StepEpoch()
    {
        LastEpoch++;
        _opt.LearningRate = _opt.BaseLearningRate * MathF.Pow(_gamma, LastEpoch / _stepSize);
    }
}

/// <summary>Gradient clipping, as torch.nn.utils.</summary>
public static class GradClip
{
    /// <summary>
    /// Scales all gradients (dense and row-sparse) so their global L2 norm is at most
    /// <paramref name="maxNorm"/>; returns the norm before clipping (clip_grad_norm_ semantics:
    /// scale = maxNorm / (norm + 1e-6) when that is below 1).
    /// </summary>
    public static double ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm)
    {
        var list = parameters as IList<Tensor> ?? parameters.ToList();
        double sq = 0;
        foreach (var p in list)
        {
            if (p.Grad is { } g) foreach (var v in g.Span) sq += (double)v * v;
            if (p.SparseGrad is { } sg) for (int i = 0; i < sg.Count; i++) foreach (var v in sg.Values(i)) sq += (double)v * v;
        }
        double norm = Math.Sqrt(sq);
        double scale = maxNorm / (norm + 1e-6);
        if (scale < 1)
            foreach (var p in list)
            {
                if (p.Grad is { } g) TensorPrimitives.Multiply(g.Span, (float)scale, g.Span);
                if (p.SparseGrad is { } sg) for (int i = 0; i < sg.Count; i++) TensorPrimitives.Multiply(sg.Values(i), (float)scale, sg.Values(i));
            }
        return norm;
    }
}
