using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using DeepInterest.Cli.Config;
using DeepInterest.Data.Batches;
using DeepInterest.Data.Protocols;
using DeepInterest.Data.Serving;
using DeepInterest.Data.Storage;
using DeepInterest.Data.Synthetic;
using DeepInterest.Engine.IO;
using DeepInterest.Engine.Kernels;
using DeepInterest.Models;
using DeepInterest.Models.Metrics;
using DeepInterest.Models.Networks;
using DeepInterest.Models.Training;
using Spectre.Console;

namespace DeepInterest.Cli.Commands;

/// <summary>
/// <c>train --config X.yaml [--out DIR] [--set key=value …]</c>: builds the data, trains with early
/// stopping on validation, evaluates the best epoch on test and writes DIR/model/ (with serving.json,
/// what scoring raw requests needs, for every protocol but synthetic), history.csv, curves.svg and metrics.json.
/// </summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "YAML config file (see configs/)", Required = true };
        var outDir = new Option<string>("--out") { Description = "Output folder", DefaultValueFactory = _ => "runs/latest" };
        var set = new Option<string[]>("--set") { Description = "Override a config key, e.g. --set train.epochs=3", AllowMultipleArgumentsPerToken = true };
        var resume = new Option<bool>("--resume") { Description = "Continue the interrupted run in --out (from OUT/checkpoint; only train.epochs and train.patience may change)" };
        var cmd = new Command("train", "Train a model from a YAML config") { config, outDir, set, resume };
        cmd.SetAction(p => Run(p.GetValue(config)!, p.GetValue(outDir)!, p.GetValue(set) ?? [], p.GetValue(resume)));
        return cmd;
    }

    private static int Run(string configPath, string outDir, string[] overrides, bool resume)
    {
        var cfg = ConfigBinder.LoadFile<TrainConfig>(configPath, overrides);
        if (cfg.Train.Threads > 0) Par.Threads = cfg.Train.Threads;
        var checkpoint = Path.Combine(outDir, "checkpoint");
        if (resume && !File.Exists(Path.Combine(checkpoint, Checkpoint.StateFile)))
            throw new ArgumentException($"--resume: {checkpoint} holds no checkpoint (train --out {outDir} writes one after every epoch)");
        var (train, valid, test, encoders, spec) = LoadData(cfg.Data, (ulong)cfg.Train.Seed);
        using var stream = cfg.Data.StreamChunkRows > 0 ? Stream(cfg, train) : null;
        string source = cfg.Data.Cache is null ? cfg.Data.Protocol.ToString() : $"cache {cfg.Data.Cache}" + (stream is null ? "" : $" (streamed in chunks of {cfg.Data.StreamChunkRows:N0} rows)");
        AnsiConsole.MarkupLine($"[bold]{cfg.Model.Kind}[/] on {Markup.Escape(source)}: {(stream?.Count ?? train!.Count):N0} train, {valid.Count:N0} validation, {test.Count:N0} test rows");
        var model = CtrModel.Create(valid.Schema, cfg.ModelOptions());
        var trainer = new Trainer(cfg.Train.ToOptions());
        Directory.CreateDirectory(outDir);
        TrainResult fit = null!;
        AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn())
            .Start(ctx =>
            {
                var progress = new SpectreProgress(ctx, cfg.Model.Kind, cfg.Train.Epochs);
                var monitor = cfg.Train.MonitorTest ? test : null;
                fit = stream is not null
                    ? trainer.Fit(model, stream, valid, progress, checkpoint, resume, monitor)
                    : trainer.Fit(model, train!, valid, progress, checkpoint, resume, monitor);
            });
        var table = new Table().AddColumns("epoch", "train loss", "val AUC", "val GAUC", "val logloss", "samples/s", "");
        foreach (var r in fit.History)
            table.AddRow(r.Epoch.ToString(), $"{r.TrainLoss:F4}", $"{r.Validation.Auc:F4}", Fmt(r.Validation.Gauc), $"{r.Validation.LogLoss:F4}", $"{r.SamplesPerSecond:N0}", r.Best ? "best" : "");
        AnsiConsole.Write(table);
        var testMetrics = Predictor.Evaluate(model, test);
        var metrics = new Dictionary<string, double>
        {
            ["test.auc"] = testMetrics.Auc, ["test.gauc"] = testMetrics.Gauc, ["test.logloss"] = testMetrics.LogLoss,
            ["valid.auc"] = fit.BestValidation.Auc, ["valid.gauc"] = fit.BestValidation.Gauc, ["valid.logloss"] = fit.BestValidation.LogLoss,
            ["best_epoch"] = fit.BestEpoch,
        };
        ModelStore.Save(Path.Combine(outDir, "model"), model, metrics);
        if (encoders is not null) AtomicFile.WriteAllText(Path.Combine(outDir, "model", ScoringModel.EncodersFile), encoders.ToJson());
        // A spec left by an earlier run into the same folder would describe other data.
        if (spec is not null) spec.Save(Path.Combine(outDir, "model", ServingSpec.FileName));
        else File.Delete(Path.Combine(outDir, "model", ServingSpec.FileName));
        // Requests of raw values from the test split, for the server's page and for trying the model by hand.
        var examples = spec is null ? null : Models.Serving.ExampleRequests.Build(spec, test);
        if (examples is { Count: > 0 }) Models.Serving.ExampleRequests.Save(Path.Combine(outDir, "model", Models.Serving.ExampleRequests.FileName), examples);
        else File.Delete(Path.Combine(outDir, "model", Models.Serving.ExampleRequests.FileName));
        HistoryWriter.WriteCsv(Path.Combine(outDir, "history.csv"), fit.History);
        HistoryWriter.WriteSvg(Path.Combine(outDir, "curves.svg"), fit.History);
        AtomicFile.WriteAllText(Path.Combine(outDir, "metrics.json"), MetricsJson(metrics));
        AnsiConsole.MarkupLine($"test AUC [bold]{testMetrics.Auc:F4}[/], GAUC {Fmt(testMetrics.Gauc)}, logloss {testMetrics.LogLoss:F4} (best epoch {fit.BestEpoch}); wrote {outDir}/model, history.csv, curves.svg, metrics.json");
        return 0;
    }

    private static string Fmt(double v) => double.IsNaN(v) ? "n/a" : v.ToString("F4", CultureInfo.InvariantCulture);

    /// <summary>{"test": {"auc": …}, "valid": {…}, "best_epoch": n}; NaN (e.g. GAUC with one row per user) becomes null.</summary>
    private static string MetricsJson(Dictionary<string, double> m)
    {
        var root = new Dictionary<string, object?>();
        foreach (var (k, v) in m)
        {
            var parts = k.Split('.');
            object? val = double.IsFinite(v) ? v : null;
            if (parts.Length == 1) { root[k] = val; continue; }
            if (!root.TryGetValue(parts[0], out var sub)) root[parts[0]] = sub = new Dictionary<string, object?>();
            ((Dictionary<string, object?>)sub!)[parts[1]] = val;
        }
        return JsonSerializer.Serialize(root, new JsonSerializerOptions { WriteIndented = true });
    }

    private static StreamingBatches Stream(TrainConfig cfg, CtrDataset? train)
    {
        if (cfg.Data.Cache is null) throw new ArgumentException("data.stream_chunk_rows needs data.cache (a folder written by `prepare`)");
        if (cfg.Model.Regularization == Regularization.Mba) throw new ArgumentException("model.regularization: mba needs the training set in memory (its row frequencies); drop data.stream_chunk_rows");
        return new StreamingBatches(Path.Combine(cfg.Data.Cache, PrepareCommand.TrainFile), cfg.Data.StreamChunkRows, cfg.Train.BatchSize, shuffle: true, (ulong)cfg.Train.Seed);
    }

    /// <summary>
    /// The prepared cache when <c>data.cache</c> is set (train stays on disk when streaming; the
    /// cache's encoders and serving spec travel on to the model folder), else the protocol's build.
    /// </summary>
    internal static (CtrDataset? Train, CtrDataset Valid, CtrDataset Test, MovieLensSeed.Encoders? Encoders, ServingSpec? Spec) LoadData(DataConfig d, ulong seed)
    {
        if (d.Cache is { } dir)
        {
            if (!Directory.Exists(dir)) throw new ArgumentException($"data.cache: {dir} does not exist (write it with `deepinterest prepare --config X.yaml --out {dir}`)");
            var enc = Path.Combine(dir, ScoringModel.EncodersFile);
            var encoders = File.Exists(enc) ? MovieLensSeed.Encoders.FromJson(File.ReadAllText(enc), enc) : null;
            var specPath = Path.Combine(dir, ServingSpec.FileName);
            var spec = File.Exists(specPath) ? ServingSpec.Load(specPath) : null;
            var train = d.StreamChunkRows > 0 ? null : DatasetCache.Load(Path.Combine(dir, PrepareCommand.TrainFile));
            return (train, DatasetCache.Load(Path.Combine(dir, PrepareCommand.ValidFile)), DatasetCache.Load(Path.Combine(dir, PrepareCommand.TestFile)), encoders, spec);
        }
        return Build(d, seed);
    }

    /// <summary>Builds the config's protocol: the splits, the seed protocol's fitted encoders, and the serving spec (null for synthetic data, which has no raw ids).</summary>
    internal static (CtrDataset Train, CtrDataset Valid, CtrDataset Test, MovieLensSeed.Encoders? Encoders, ServingSpec? Spec) Build(DataConfig d, ulong seed)
    {
        if (d.Protocol == DataProtocol.Synthetic)
        {
            var data = PlantedInterest.Generate(new PlantedInterestOptions(Samples: d.Samples, Users: d.Samples / 2, EmbeddingDim: d.EmbeddingDim, Seed: seed));
            int nTrain = d.Samples * 8 / 10, nValid = d.Samples / 10;
            return (data.Take(Enumerable.Range(0, nTrain).ToList()), data.Take(Enumerable.Range(nTrain, nValid).ToList()),
                data.Take(Enumerable.Range(nTrain + nValid, d.Samples - nTrain - nValid).ToList()), null, null);
        }
        if (d.Protocol == DataProtocol.Ml1mDin)
        {
            var ml = MovieLens1M.ReadLog(d.Ordered, d.Movies);
            var r = DinProtocol.Build(ml.Sequences, ml.CategoryOf, new DinProtocolOptions(d.MaxHistory, d.ValidFraction, d.EmbeddingDim, seed, d.NegativeHistory,
                d.MaxSessions, d.SessionLength, d.SessionGapSeconds), ml.Times, ml.Raw);
            return (r.Train, r.Valid, r.Test, null, r.Spec);
        }
        var options = new DinProtocolOptions(d.MaxHistory, d.ValidFraction, d.EmbeddingDim, seed, d.NegativeHistory, d.MaxSessions, d.SessionLength, d.SessionGapSeconds);
        if (d.Protocol == DataProtocol.AmazonDin)
        {
            var log = AmazonMcAuley.Read(d.Reviews, d.Meta.Length == 0 ? null : d.Meta);
            var r = DinProtocol.Build(log.Sequences, log.CategoryOf, options, log.Times, log.Raw);
            return (r.Train, r.Valid, r.Test, null, r.Spec);
        }
        if (d.Protocol == DataProtocol.BehaviourLog)
        {
            if (d.Log.Length == 0) throw new ArgumentException("data.log: the behaviour log CSV is required with protocol behaviour_log");
            var cols = new BehaviourLogColumns(d.UserColumn, d.ItemColumn, d.TimeColumn, d.CategoryColumn.Length == 0 ? null : d.CategoryColumn, d.LabelColumn.Length == 0 ? null : d.LabelColumn);
            if (cols.Label is not null)
            {
                var lr = BehaviourLog.BuildLabeled(d.Log, cols, options);
                return (lr.Train, lr.Valid, lr.Test, null, lr.Spec);
            }
            var log = BehaviourLog.Read(d.Log, cols);
            var r = DinProtocol.Build(log.Sequences, log.CategoryOf, options, log.Times, log.Raw);
            return (r.Train, r.Valid, r.Test, null, r.Spec);
        }
        var s = MovieLensSeed.Load(d.Train, d.Test, d.EmbeddingDim, d.ValidFraction, seed, d.MinCount);
        return (s.Train, s.Valid, s.Test, s.Fitted, s.Spec);
    }
}
