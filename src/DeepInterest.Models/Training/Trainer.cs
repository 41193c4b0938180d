using System.Diagnostics;
using DeepInterest.Data.Batches;
using DeepInterest.Engine;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.IO;
using DeepInterest.Engine.Optim;
using DeepInterest.Models.Metrics;
using DeepInterest.Models.Networks;

namespace DeepInterest.Models.Training;

/// <summary>The validation metric that selects the best epoch.</summary>
public enum SelectMetric { Auc, Gauc, Logloss }

/// <summary>Training hyperparameters (immutable; <see cref="Validate"/> names the bad field).</summary>
public sealed record TrainOptions
{
    public int Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 256;
    public float LearningRate { get; init; } = 1e-3f;
    public float WeightDecay { get; init; }
    public SparseMode EmbeddingUpdates { get; init; } = SparseMode.Lazy;
    public SelectMetric Metric { get; init; } = SelectMetric.Auc;
    public int Patience { get; init; } = 2;
    public double MinDelta { get; init; } = 1e-4;
    public ulong Seed { get; init; } = 1;
    public int EvalBatchSize { get; init; } = 2048;
    /// <summary>Length bucketing: rows are sorted by length within windows of this many batches (0 = off).</summary>
    public int BucketWindow { get; init; }

    public TrainOptions Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"train.epochs must be ≥ 1, got {Epochs}.");
        if (BatchSize < 1) throw new ArgumentException($"train.batch_size must be ≥ 1, got {BatchSize}.");
        if (!(LearningRate > 0)) throw new ArgumentException($"train.learning_rate must be positive, got {LearningRate}.");
        if (!(WeightDecay >= 0)) throw new ArgumentException($"train.weight_decay must be ≥ 0, got {WeightDecay}.");
        if (Patience < 0) throw new ArgumentException($"train.patience must be ≥ 0, got {Patience}.");
        if (BucketWindow < 0) throw new ArgumentException($"train.bucket_window must be ≥ 0, got {BucketWindow}.");
        if (!(MinDelta >= 0)) throw new ArgumentException($"train.min_delta must be ≥ 0, got {MinDelta}.");
        return this;
    }
}

/// <summary>One row of the training history; <c>Monitor</c> holds metrics on a monitored set (e.g. test), for reporting only, never used to select.</summary>
public sealed record EpochResult(int Epoch, double TrainLoss, EvalMetrics Validation, float LearningRate, double Seconds, double SamplesPerSecond, bool Best, EvalMetrics? Monitor = null);

/// <summary>Receives progress; the CLI draws it, tests ignore it.</summary>
public interface ITrainingProgress
{
    void OnStep(int epoch, int step, int stepsPerEpoch, double samplesPerSecond, double runningLoss);
    void OnEpoch(EpochResult result);
}

/// <summary>Training stopped because the loss became NaN or infinite.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

/// <summary>The outcome of <c>Trainer.Fit</c>.</summary>
public sealed record TrainResult(IReadOnlyList<EpochResult> History, int BestEpoch, EvalMetrics BestValidation);

/// <summary>
/// Fits a <see cref="CtrModel"/> with Adam on a training set, evaluates on a validation set every
/// epoch, keeps the best epoch's weights (by the chosen metric, with patience and min-delta) and
/// restores them at the end. The optimizer belongs to the trainer, not the model.
/// With a checkpoint folder, every epoch ends by writing (each file atomically, <c>trainer.json</c>
/// last, so a crash leaves the previous complete checkpoint): <c>last.safetensors</c> (weights),
/// <c>best.safetensors</c> (the best epoch's weights), <c>optimizer.safetensors</c> (Adam's moments
/// and step) and <c>trainer.json</c> (epoch, early-stopping state, history, shuffling and dropout
/// random state). <c>Fit</c> with <c>resume</c> continues such a run so that 2 + 2 epochs equal 4 uninterrupted ones bit for bit.
/// </summary>
public sealed class Trainer(TrainOptions options)
{
    public TrainOptions Options { get; } = options.Validate();

    public TrainResult Fit(CtrModel model, CtrDataset train, CtrDataset valid, ITrainingProgress? progress = null, string? checkpointDir = null, bool resume = false, CtrDataset? monitor = null)
    {
        if (model.Options.Regularization == Regularization.Mba) model.Embeddings.FitFrequencies(train);
        return Fit(model, new BatchIterator(train, Options.BatchSize, shuffle: true, Options.Seed, Options.BucketWindow), valid, progress, checkpointDir, resume, monitor);
    }

    /// <summary>
    /// Trains from any batch source (in memory or streamed). A <c>monitor</c> set is evaluated after
    /// every epoch and recorded in the history for reporting only: the best epoch is always chosen on
    /// <c>valid</c>.
    /// </summary>
    public TrainResult Fit(CtrModel model, IBatchSource batches, CtrDataset valid, ITrainingProgress? progress = null, string? checkpointDir = null, bool resume = false, CtrDataset? monitor = null)
    {
        var o = Options;
        if (resume && checkpointDir is null) throw new ArgumentException("resuming needs the checkpoint folder of the interrupted run");
        var optimizer = new Adam(model.NamedParameters(), new AdamOptions(o.LearningRate, WeightDecay: o.WeightDecay, Sparse: o.EmbeddingUpdates));
        var input = new ModelInput();
        var state = new CheckpointState { Fingerprint = Fingerprint(model) };
        Dictionary<string, float[]> best;
        EvalMetrics? bestMetrics = null;
        if (resume)
        {
            state = Checkpoint.Load(checkpointDir!, model, optimizer, state.Fingerprint);
            best = Checkpoint.LoadBest(checkpointDir!, model);
            bestMetrics = state.BestMetrics;
            batches.EpochCounter = state.EpochCounter;
            Checkpoint.SetRngStates(model, state.RngStates);
        }
        else best = Snapshot(model);
        var history = state.History;
        int bestEpoch = state.BestEpoch, sinceBest = state.SinceBest;
        bool stopped = resume && (state.Stopped || state.Epoch >= o.Epochs);
        for (int epoch = state.Epoch + 1; !stopped && epoch <= o.Epochs; epoch++)
        {
            model.Train();
            var sw = Stopwatch.StartNew();
            double lossSum = 0;
            int step = 0, seen = 0;
            foreach (var batch in batches.Epoch())
            {
                float loss;
                using (Arena.Begin())
                {
                    input.Load(model.Schema, batch);
                    optimizer.ZeroGrad();
                    var l = model.Loss(input);
                    loss = l.Item();
                    if (!float.IsFinite(loss))
                    {
                        Restore(model, best);
                        throw new TrainingDivergedException($"training diverged: loss is {loss} at epoch {epoch}, step {step + 1}; the model holds the best weights so far (epoch {bestEpoch})"
                            + (checkpointDir is null ? "" : $" and the checkpoint in {checkpointDir} is the end of epoch {epoch - 1}, untouched"));
                    }
                    l.Backward();
                    optimizer.Step();
                }
                lossSum += loss;
                step++;
                seen += batch.Count;
                if (progress is not null && (step % 10 == 0 || step == batches.BatchesPerEpoch))
                    progress.OnStep(epoch, step, batches.BatchesPerEpoch, seen / Math.Max(1e-9, sw.Elapsed.TotalSeconds), lossSum / step);
            }
            double trainSeconds = sw.Elapsed.TotalSeconds;
            var metrics = Predictor.Evaluate(model, valid, o.EvalBatchSize);
            double score = Score(metrics), bestScore = bestMetrics is null ? double.NegativeInfinity : Score(bestMetrics);
            bool improved = bestMetrics is null || score > bestScore + o.MinDelta;
            if (improved)
            {
                best = Snapshot(model);
                bestMetrics = metrics;
                bestEpoch = epoch;
                sinceBest = 0;
            }
            else sinceBest++;
            var r = new EpochResult(epoch, lossSum / Math.Max(1, step), metrics, optimizer.LearningRate, sw.Elapsed.TotalSeconds, seen / Math.Max(1e-9, trainSeconds), improved,
                monitor is null ? null : Predictor.Evaluate(model, monitor, o.EvalBatchSize));
            history.Add(r);
            stopped = sinceBest > o.Patience;
            if (checkpointDir is not null)
                Checkpoint.Save(checkpointDir, model, optimizer, improved ? best : null, new CheckpointState
                {
                    Fingerprint = state.Fingerprint, Epoch = epoch, BestEpoch = bestEpoch, SinceBest = sinceBest, BestMetrics = bestMetrics,
                    History = history, EpochCounter = batches.EpochCounter, RngStates = Checkpoint.RngStates(model), Stopped = stopped,
                });
            progress?.OnEpoch(r);
        }
        Restore(model, best);
        return new TrainResult(history, bestEpoch, bestMetrics ?? throw new InvalidOperationException("no epoch was trained"));
    }

    /// <summary>What must match for a checkpoint to be resumed: model kind/options, schema and training options.</summary>
    private string Fingerprint(CtrModel model) =>
        System.Text.Json.JsonSerializer.Serialize(new { model = (object)model.Options, kind = model.Kind, schema = model.Schema.ToJson(), train = Options with { Epochs = 0, Patience = 0 } }, Checkpoint.Json);

    /// <summary>Higher is better for every metric (logloss is negated).</summary>
    private double Score(EvalMetrics m) => Options.Metric switch
    {
        SelectMetric.Auc => m.Auc,
        SelectMetric.Gauc => double.IsNaN(m.Gauc) ? m.Auc : m.Gauc,
        _ => -m.LogLoss,
    };

    internal static Dictionary<string, float[]> Snapshot(CtrModel model) =>
        model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());

    internal static void Restore(CtrModel model, Dictionary<string, float[]> snap)
    {
        foreach (var (k, t) in model.StateDict()) snap[k].CopyTo(t.Span);
    }
}

/// <summary>Scores datasets in evaluation mode without recording gradients.</summary>
public static class Predictor
{
    /// <summary>Click probabilities for every row of <paramref name="data"/>, in order.</summary>
    /// <remarks>
    /// Safe to call from many threads with one model: evaluation is a scope of the calling thread
    /// (<see cref="Engine.Modules.Module.Evaluating"/>), so the model's own mode flag is never touched.
    /// </remarks>
    public static float[] Predict(CtrModel model, CtrDataset data, int batchSize = 2048)
    {
        var probs = new float[data.Count];
        var it = new BatchIterator(data, batchSize, shuffle: false, 0);
        var input = new ModelInput();
        int offset = 0;
        using (Tape.NoGrad())
        using (Engine.Modules.Module.Evaluating())
        {
            foreach (var batch in it.Epoch())
            {
                using var arena = Arena.Begin();
                input.Load(data.Schema, batch);
                var logits = model.Forward(input).Logits;
                System.Numerics.Tensors.TensorPrimitives.Sigmoid(logits.Span, probs.AsSpan(offset, batch.Count));
                offset += batch.Count;
            }
        }
        return probs;
    }

    public static EvalMetrics Evaluate(CtrModel model, CtrDataset data, int batchSize = 2048)
    {
        var p = Predict(model, data, batchSize);
        return EvalMetrics.Compute(p, data.Labels, data.UserIds);
    }
}
