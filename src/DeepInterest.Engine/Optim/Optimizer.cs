namespace DeepInterest.Engine.Optim;

/// <summary>
/// Base of all optimizers. An optimizer owns the per-parameter state (moments, accumulators);
/// models never own one — the trainer does. Parameters are given with their state-dict names so
/// optimizer state can be saved and restored by name for resuming.
/// </summary>
public abstract class Optimizer
{
    protected Optimizer(IEnumerable<(string Name, Tensor Parameter)> parameters, float learningRate)
    {
        if (!(learningRate > 0) || float.IsInfinity(learningRate))
            throw new ArgumentOutOfRangeException(nameof(learningRate), $"Learning rate must be a positive finite number, got {learningRate}.");
        Parameters = parameters.ToList();
        var dup = Parameters.GroupBy(p => p.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"Parameter '{dup.Key}' is given to the optimizer twice.");
        LearningRate = learningRate;
        BaseLearningRate = learningRate;
    }

    /// <summary>The parameters with their names, in a fixed order.</summary>
    public IReadOnlyList<(string Name, Tensor Parameter)> Parameters { get; }

    /// <summary>Current learning rate (schedules change it between epochs or steps).</summary>
    public float LearningRate { get; set; }

    /// <summary>The learning rate given at construction (schedules scale it).</summary>
    public float BaseLearningRate { get; }

    /// <summary>Number of completed <see cref="Step"/> calls.</summary>
    public long StepCount { get; protected set; }

    /// <summary>Updates every parameter from its accumulated (dense and/or row-sparse) gradient.</summary>
    public abstract void Step();

    /// <summary>Clears every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var (_, p) in Parameters) p.ZeroGrad();
    }

    /// <summary>The optimizer state as named tensors (for checkpoints), e.g. <c>exp_avg.{param}</c>.</summary>
    public abstract IReadOnlyList<KeyValuePair<string, Tensor>> StateDict();

    /// <summary>Restores state written by <see cref="StateDict"/>; strict about names and shapes.</summary>
    public abstract void LoadStateDict(IReadOnlyDictionary<string, Tensor> state);
}
