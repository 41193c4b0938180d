using System.CommandLine;
using System.Diagnostics;
using DeepInterest.Data.Batches;
using DeepInterest.Data.Synthetic;
using DeepInterest.Models.Metrics;
using DeepInterest.Models.Networks;
using DeepInterest.Models.Training;
using Spectre.Console;

namespace DeepInterest.Cli.Commands;

/// <summary>
/// <c>demo</c>: trains BaseModel and DIN on generated behaviour logs with planted interests and
/// prints a comparison. No files are read or written.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var samples = new Option<int>("--samples") { Description = "Generated samples (80% train, 10% validation, 10% test)", DefaultValueFactory = _ => 60_000 };
        var epochs = new Option<int>("--epochs") { Description = "Maximum epochs per model", DefaultValueFactory = _ => 5 };
        var seed = new Option<int>("--seed") { Description = "Seed for data, weights and shuffling", DefaultValueFactory = _ => 7 };
        var cmd = new Command("demo", "Train BaseModel and DIN on synthetic behaviour logs with planted interests (no files needed)") { samples, epochs, seed };
        cmd.SetAction(p => Run(p.GetValue(samples), p.GetValue(epochs), (ulong)p.GetValue(seed)));
        return cmd;
    }

    private static int Run(int samples, int epochs, ulong seed)
    {
        if (samples < 1000) throw new ArgumentException($"--samples must be at least 1000, got {samples}.");
        var opts = new PlantedInterestOptions(Samples: samples, Users: samples / 2, Seed: seed);
        AnsiConsole.MarkupLine($"[bold]DeepInterest demo[/]: {samples:N0} synthetic impressions, {opts.Users:N0} users, {opts.Items:N0} items in {opts.Categories} categories,");
        AnsiConsole.MarkupLine($"each user interested in {opts.InterestsPerUser} categories; a click happens when the candidate's category is one of them ({opts.LabelNoise:P0} label noise).");
        AnsiConsole.MarkupLine("Attention can match the candidate against the history; sum pooling blurs the interests together.\n");
        var data = PlantedInterest.Generate(opts);
        int nTrain = samples * 8 / 10, nValid = samples / 10;
        var train = data.Take(Enumerable.Range(0, nTrain).ToList());
        var valid = data.Take(Enumerable.Range(nTrain, nValid).ToList());
        var test = data.Take(Enumerable.Range(nTrain + nValid, samples - nTrain - nValid).ToList());
        var trainer = new Trainer(new TrainOptions { Epochs = epochs, BatchSize = 256, LearningRate = 2e-3f, Patience = 1, Seed = seed });
        var results = new List<(string Name, TrainResult Fit, EvalMetrics Test, double Seconds)>();
        var models = new (string Name, ModelOptions Options)[]
        {
            ("BaseModel", new BaseModelOptions { MlpHidden = [64, 32], EmbeddingInitStd = 0.1f, Seed = seed }),
            ("DIN", new DinOptions { MlpHidden = [64, 32], AttentionHidden = [32, 16], EmbeddingInitStd = 0.1f, Seed = seed }),
        };
        foreach (var (name, options) in models)
        {
            var model = CtrModel.Create(train.Schema, options);
            var sw = Stopwatch.StartNew();
            TrainResult fit = null!;
            AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx => fit = trainer.Fit(model, train, valid, new SpectreProgress(ctx, name, epochs)));
            var testMetrics = Predictor.Evaluate(model, test);
            results.Add((name, fit, testMetrics, sw.Elapsed.TotalSeconds));
        }
        var table = new Table().Title("Held-out test set (best epoch chosen on validation)")
            .AddColumns("model", "best epoch", "val AUC", "test AUC", "test GAUC", "test logloss", "RelaImpr", "train time");
        double baseAuc = results[0].Test.Auc;
        foreach (var (name, fit, t, secs) in results)
            table.AddRow(name, fit.BestEpoch.ToString(), $"{fit.BestValidation.Auc:F4}", $"{t.Auc:F4}", $"{t.Gauc:F4}", $"{t.LogLoss:F4}",
                name == "BaseModel" ? "—" : $"{CtrMetrics.RelaImpr(t.Auc, baseAuc):+0.0%;-0.0%}", $"{secs:F1} s");
        AnsiConsole.Write(table);
        return 0;
    }
}

/// <summary>Draws training progress with Spectre.Console: one bar per model, samples/s and running loss.</summary>
internal sealed class SpectreProgress(ProgressContext ctx, string name, int epochs) : ITrainingProgress
{
    private readonly ProgressTask _task = ctx.AddTask(name, maxValue: 1);

    public void OnStep(int epoch, int step, int stepsPerEpoch, double samplesPerSecond, double runningLoss)
    {
        _task.MaxValue = (double)epochs * stepsPerEpoch;
        _task.Value = (epoch - 1) * (double)stepsPerEpoch + step;
        _task.Description = $"{name} epoch {epoch}/{epochs}  loss {runningLoss:F4}  {samplesPerSecond:N0} samples/s";
    }

    public void OnEpoch(EpochResult r) =>
        ctx.Refresh();
}
