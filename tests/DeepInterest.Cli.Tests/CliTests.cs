using System.Text.Json;

namespace DeepInterest.Cli.Tests;

[Collection("console")]
public class CliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "di-cli-" + Guid.NewGuid().ToString("N"));
    public CliTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Err) Run(params string[] args)
    {
        var err = new StringWriter();
        var old = Console.Error;
        Console.SetError(err);
        try { return (Program.Main(args), err.ToString()); }
        finally { Console.SetError(old); }
    }

    [Fact]
    public void TrainWritesModelHistoryAndMetrics()
    {
        var cfg = Path.Combine(_dir, "syn.yaml");
        File.WriteAllText(cfg, "data:\n  protocol: synthetic\n  samples: 3000\n  embedding_dim: 8\nmodel:\n  kind: din\n  mlp_hidden: [16]\n  attention_hidden: [8]\ntrain:\n  epochs: 2\n  batch_size: 64\n");
        var outDir = Path.Combine(_dir, "run");
        var (code, err) = Run("train", "--config", cfg, "--out", outDir, "--set", "train.learning_rate=0.003");
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(outDir, "model", "manifest.json")));
        Assert.True(File.Exists(Path.Combine(outDir, "model", "weights.safetensors")));
        Assert.StartsWith("epoch,train_loss,val_auc", File.ReadAllText(Path.Combine(outDir, "history.csv")));
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(outDir, "curves.svg")));
        using var m = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json")));
        Assert.InRange(m.RootElement.GetProperty("test").GetProperty("auc").GetDouble(), 0.5, 1.0);
        Assert.True(m.RootElement.GetProperty("test").TryGetProperty("logloss", out _));
    }

    [Fact]
    public void PrepareThenTrainFromTheCacheInMemoryAndStreamed()
    {
        var cfg = Path.Combine(_dir, "syn.yaml");
        File.WriteAllText(cfg, "data:\n  protocol: synthetic\n  samples: 3000\n  embedding_dim: 8\nmodel:\n  kind: din\n  mlp_hidden: [16]\n  attention_hidden: [8]\ntrain:\n  epochs: 1\n  batch_size: 64\n");
        var cache = Path.Combine(_dir, "cache");
        var (code, err) = Run("prepare", "--config", cfg, "--out", cache);
        Assert.True(code == 0, err);
        foreach (var f in new[] { "train.safetensors", "valid.safetensors", "test.safetensors", "prepare.json" }) Assert.True(File.Exists(Path.Combine(cache, f)), f);
        using (var p = JsonDocument.Parse(File.ReadAllText(Path.Combine(cache, "prepare.json"))))
            Assert.Equal(2400, p.RootElement.GetProperty("train").GetInt32());
        // The same data from the cache trains to the same metrics as building it.
        (code, err) = Run("train", "--config", cfg, "--out", Path.Combine(_dir, "built"));
        Assert.True(code == 0, err);
        (code, err) = Run("train", "--config", cfg, "--out", Path.Combine(_dir, "cached"), "--set", $"data.cache={cache}");
        Assert.True(code == 0, err);
        Assert.Equal(File.ReadAllText(Path.Combine(_dir, "built", "metrics.json")), File.ReadAllText(Path.Combine(_dir, "cached", "metrics.json")));
        (code, err) = Run("train", "--config", cfg, "--out", Path.Combine(_dir, "streamed"), "--set", $"data.cache={cache}", "--set", "data.stream_chunk_rows=500");
        Assert.True(code == 0, err);
        // evaluate reads a prepared split directly.
        (code, err) = Run("evaluate", "--model", Path.Combine(_dir, "cached", "model"), "--data", Path.Combine(cache, "test.safetensors"));
        Assert.True(code == 0, err);
        (code, err) = Run("train", "--config", cfg, "--set", $"data.cache={Path.Combine(_dir, "nope")}");
        Assert.Equal(1, code);
        Assert.StartsWith("error: data.cache: ", err.Trim());
    }

    [Fact]
    public void ResumeContinuesAnInterruptedRun()
    {
        var cfg = Path.Combine(_dir, "syn.yaml");
        File.WriteAllText(cfg, "data:\n  protocol: synthetic\n  samples: 3000\n  embedding_dim: 8\nmodel:\n  kind: din\n  mlp_hidden: [16]\n  attention_hidden: [8]\ntrain:\n  epochs: 3\n  batch_size: 64\n  patience: 5\n");
        var (code, err) = Run("train", "--config", cfg, "--out", Path.Combine(_dir, "full"));
        Assert.True(code == 0, err);
        var part = Path.Combine(_dir, "part");
        (code, err) = Run("train", "--config", cfg, "--out", part, "--set", "train.epochs=1");
        Assert.True(code == 0, err);
        (code, err) = Run("train", "--config", cfg, "--out", part, "--resume");
        Assert.True(code == 0, err);
        Assert.Equal(File.ReadAllText(Path.Combine(_dir, "full", "metrics.json")), File.ReadAllText(Path.Combine(part, "metrics.json")));
        (code, err) = Run("train", "--config", cfg, "--out", Path.Combine(_dir, "empty"), "--resume");
        Assert.Equal(1, code);
        Assert.Contains("holds no checkpoint", err);
        (code, err) = Run("train", "--config", cfg, "--out", part, "--resume", "--set", "train.learning_rate=0.01");
        Assert.Equal(1, code);
        Assert.Contains("other model options", err);
    }

    [Fact]
    public void DsinFromABehaviourLogTrainsAndExplainsSessions()
    {
        // 60 users browsing 80 items in bursts (gaps over 30 minutes between bursts).
        var rng = new Random(4);
        var lines = new List<string> { "user,item,time,category" };
        for (int u = 0; u < 60; u++)
        {
            long t = 1_000_000 + rng.Next(100_000);
            for (int k = 0; k < 12; k++)
            {
                t += k % 4 == 3 ? 3_600 + rng.Next(10_000) : 60 + rng.Next(600);
                int item = rng.Next(80);
                lines.Add($"u{u},m{item},{t},g{item % 7}");
            }
        }
        var log = Path.Combine(_dir, "log.csv");
        File.WriteAllLines(log, lines);
        var cfg = Path.Combine(_dir, "dsin.yaml");
        File.WriteAllText(cfg, $"data:\n  protocol: behaviour_log\n  log: {log}\n  category_column: category\n  embedding_dim: 4\n  max_history: 10\n  max_sessions: 3\n  session_length: 4\n  valid_fraction: 0.2\n"
            + "model:\n  kind: dsin\n  mlp_hidden: [8]\n  session_heads: 2\ntrain:\n  epochs: 1\n  batch_size: 32\n");
        var cache = Path.Combine(_dir, "cache");
        var (code, err) = Run("prepare", "--config", cfg, "--out", cache);
        Assert.True(code == 0, err);
        var run = Path.Combine(_dir, "dsin");
        (code, err) = Run("train", "--config", cfg, "--out", run, "--set", $"data.cache={cache}");
        Assert.True(code == 0, err);
        var svg = Path.Combine(_dir, "why.svg");
        (code, err) = Run("explain", "--model", Path.Combine(run, "model"), "--data", Path.Combine(cache, "test.safetensors"), "--row", "0", "--out", svg);
        Assert.True(code == 0, err);
        var text = File.ReadAllText(svg);
        Assert.Contains("activation over sessions from the extractor", text);
        Assert.Contains("share of the session interest", text);
        Assert.Contains("<rect", text);
        (code, err) = Run("explain", "--model", Path.Combine(run, "model"), "--data", Path.Combine(cache, "test.safetensors"), "--row", "0", "--out", svg, "--session", "1");
        Assert.True(code == 0, err);
        Assert.Contains("session 1: each behaviour", File.ReadAllText(svg));
        (code, err) = Run("explain", "--model", Path.Combine(run, "model"), "--data", Path.Combine(cache, "test.safetensors"), "--row", "0", "--out", svg, "--session", "9");
        Assert.Equal(1, code);
        Assert.Contains("--session 9: row 0 has", err);
    }

    [Fact]
    public void BenchPrintsOneJsonObjectPerFigure()
    {
        var outp = new StringWriter();
        var old = Console.Out;
        Console.SetOut(outp);
        int code;
        try { code = Program.Main(["bench", "movielens-din", "--figure", "train", "--seconds", "0.3", "--batch", "64", "--json"]); }
        finally { Console.SetOut(old); }
        Assert.Equal(0, code);
        using var j = JsonDocument.Parse(outp.ToString().Trim());
        Assert.Equal("train", j.RootElement.GetProperty("phase").GetString());
        Assert.True(j.RootElement.GetProperty("samples_per_s").GetDouble() > 0);
        Assert.Equal(64, j.RootElement.GetProperty("batch").GetInt32());
        var (bad, err) = Run("bench", "amazon-dsin");
        Assert.Equal(1, bad);
        Assert.Equal("error: bench: unknown workload 'amazon-dsin' (choose amazon-din, amazon-dien, movielens-din, movielens-dien)", err.Trim());
    }

    [Fact]
    public void ErrorsAreOneLineWithNonZeroExit()
    {
        var cfg = Path.Combine(_dir, "bad.yaml");
        File.WriteAllText(cfg, "train:\n  epocs: 3\n");
        var (code, err) = Run("train", "--config", cfg);
        Assert.Equal(1, code);
        Assert.Equal($"error: {cfg}:2:3: unknown key 'train.epocs'; did you mean 'epochs'?", err.Trim());
        (code, err) = Run("train", "--config", Path.Combine(_dir, "missing.yaml"));
        Assert.Equal(1, code);
        Assert.Single(err.Trim().Split('\n'));
        File.WriteAllText(cfg, "data:\n  protocol: movielens_seed\n  train: /nonexistent/train.csv\n");
        (code, err) = Run("train", "--config", cfg);
        Assert.Equal(1, code);
        Assert.Equal("error: /nonexistent/train.csv: file not found", err.Trim());
    }
}

[Collection("console")]
public class ScoreCommandTests
{
    [SkippableFact]
    public void EvaluateAndPredictScoreRawRowsIncludingUnseenIds()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "DeepInterest.slnx"))) root = root.Parent;
        var data = Path.GetFullPath(Path.Combine(root!.FullName, "..", "shared", "data", "movielens-1m-prediction-flow"));
        Skip.IfNot(Directory.Exists(data), $"{data} is absent: the MovieLens seed files live in ../shared/data beside the repository");
        var dir = Path.Combine(Path.GetTempPath(), "di-score-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var cfg = Path.Combine(dir, "c.yaml");
            File.WriteAllText(cfg, $"data:\n  train: {data}/train.csv\n  test: {data}/test.csv\n  embedding_dim: 4\nmodel:\n  kind: din\n  mlp_hidden: [8]\n  attention_hidden: [4]\ntrain:\n  epochs: 1\n");
            Assert.Equal(0, Program.Main(["train", "--config", cfg, "--out", Path.Combine(dir, "run")]));
            // A row with a user, movie and zip code never seen in training still scores.
            var lines = File.ReadAllLines(Path.Combine(data, "test.csv")).Take(3).ToList();
            lines.Add("999999,999998,4,978824351,1.0,999997|48,1,F,1,10,00000,Unknown (2030),Drama,1");
            var csv = Path.Combine(dir, "rows.csv");
            File.WriteAllLines(csv, lines);
            var model = Path.Combine(dir, "run", "model");
            Assert.Equal(0, Program.Main(["evaluate", "--model", model, "--data", csv]));
            var outCsv = Path.Combine(dir, "p.csv");
            Assert.Equal(0, Program.Main(["predict", "--model", model, "--data", csv, "--out", outCsv]));
            var preds = File.ReadAllLines(outCsv);
            Assert.Equal("row,user_id,probability", preds[0]);
            Assert.Equal(3, preds.Length - 1);                        // two test rows + the unseen one
            Assert.All(preds.Skip(1), l => Assert.InRange(double.Parse(l.Split(',')[2], System.Globalization.CultureInfo.InvariantCulture), 0.0, 1.0));
            var svg = Path.Combine(dir, "e.svg");
            Assert.Equal(0, Program.Main(["explain", "--model", model, "--data", csv, "--row", "2", "--out", svg]));
            var text = File.ReadAllText(svg);
            Assert.Contains("<svg", text);
            Assert.Equal(2, text.Split("<rect x=\"160\"").Length - 1);                         // one bar per history item (2 in that row)
            Assert.Equal(1, Program.Main(["explain", "--model", model, "--data", csv, "--row", "99", "--out", svg]));
        }
        finally { Directory.Delete(dir, true); }
    }
}
