using DeepInterest.Models;
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using DeepInterest.Cli.Config;
using DeepInterest.Data.Serving;
using DeepInterest.Data.Storage;
using DeepInterest.Engine.IO;
using Spectre.Console;

namespace DeepInterest.Cli.Commands;

/// <summary>
/// <c>prepare --config X.yaml --out DIR</c>: builds the config's data protocol once and writes the
/// encoded splits as dataset caches (DIR/train.safetensors, valid.safetensors, test.safetensors),
/// the fitted encoders (when the protocol has any), the serving spec (DIR/serving.json, every
/// protocol but synthetic) and DIR/prepare.json with the counts. A config with <c>data.cache: DIR</c>
/// then trains without re-parsing text, and copies the spec into its model folder.
/// </summary>
public static class PrepareCommand
{
    public const string TrainFile = "train.safetensors", ValidFile = "valid.safetensors", TestFile = "test.safetensors";

    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "YAML config file whose data section to build", Required = true };
        var outDir = new Option<string>("--out") { Description = "Folder for the encoded cache", Required = true };
        var set = new Option<string[]>("--set") { Description = "Override a config key, e.g. --set data.max_history=50", AllowMultipleArgumentsPerToken = true };
        var cmd = new Command("prepare", "Build a data protocol once and write the encoded splits (fast to load, readable from PyTorch)") { config, outDir, set };
        cmd.SetAction(p => Run(p.GetValue(config)!, p.GetValue(outDir)!, p.GetValue(set) ?? []));
        return cmd;
    }

    private static int Run(string configPath, string outDir, string[] overrides)
    {
        var cfg = ConfigBinder.LoadFile<TrainConfig>(configPath, overrides);
        if (cfg.Data.Cache is not null) throw new ArgumentException($"{configPath}: data.cache is set; prepare builds a protocol, so remove it");
        var sw = Stopwatch.StartNew();
        var (train, valid, test, encoders, spec) = TrainCommand.Build(cfg.Data, (ulong)cfg.Train.Seed);
        double buildSeconds = sw.Elapsed.TotalSeconds;
        Directory.CreateDirectory(outDir);
        DatasetCache.Save(train, Path.Combine(outDir, TrainFile));
        DatasetCache.Save(valid, Path.Combine(outDir, ValidFile));
        DatasetCache.Save(test, Path.Combine(outDir, TestFile));
        if (encoders is not null) AtomicFile.WriteAllText(Path.Combine(outDir, ScoringModel.EncodersFile), encoders.ToJson());
        // A spec left by an earlier run into the same folder would describe other data.
        if (spec is not null) spec.Save(Path.Combine(outDir, ServingSpec.FileName));
        else File.Delete(Path.Combine(outDir, ServingSpec.FileName));
        var summary = new Dictionary<string, object>
        {
            ["protocol"] = cfg.Data.Protocol.ToString(), ["seed"] = cfg.Train.Seed, ["train"] = train.Count, ["valid"] = valid.Count, ["test"] = test.Count,
            ["build_seconds"] = Math.Round(buildSeconds, 3), ["config"] = Path.GetFullPath(configPath),
        };
        AtomicFile.WriteAllText(Path.Combine(outDir, "prepare.json"), JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
        var t = new Table().AddColumns("split", "rows", "file");
        t.AddRow("train", $"{train.Count:N0}", TrainFile).AddRow("valid", $"{valid.Count:N0}", ValidFile).AddRow("test", $"{test.Count:N0}", TestFile);
        AnsiConsole.Write(t);
        AnsiConsole.MarkupLine($"built {cfg.Data.Protocol} in {buildSeconds:F1} s; wrote {Markup.Escape(outDir)} (use data.cache: {Markup.Escape(outDir)})");
        return 0;
    }
}
