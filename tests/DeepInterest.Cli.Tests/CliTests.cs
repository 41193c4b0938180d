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
        // Synthetic data has no raw ids: no serving spec, and raw rows are refused with a reason.
        Assert.False(File.Exists(Path.Combine(outDir, "model", "serving.json")));
        var raw = Path.Combine(_dir, "raw.csv");
        File.WriteAllLines(raw, ["user,item,time", "a,b,1"]);
        (code, err) = Run("predict", "--model", Path.Combine(outDir, "model"), "--data", raw, "--out", Path.Combine(_dir, "p.csv"));
        Assert.Equal(1, code);
        Assert.StartsWith($"error: {Path.Combine(outDir, "model")}: serving.json is missing", err.Trim());
        Assert.Contains("a synthetic-data model scores only prepared .safetensors splits", err);
    }

    [Fact]
    public void DinProtocolModelsScoreRawLogsByRawIds()
    {
        // 40 users, 30 items in 5 categories; DIEN on the DIN protocol (with negative histories).
        var rng = new Random(8);
        var lines = new List<string> { "user,item,time,category" };
        for (int u = 0; u < 40; u++)
            for (int k = 0, t = 1_000 + rng.Next(100); k < 8; k++, t += 1 + rng.Next(50))
            {
                int item = rng.Next(30);
                lines.Add($"u{u},m{item},{t},g{item % 5}");
            }
        var log = Path.Combine(_dir, "log.csv");
        File.WriteAllLines(log, lines);
        var cfg = Path.Combine(_dir, "dien.yaml");
        File.WriteAllText(cfg, $"data:\n  protocol: behaviour_log\n  log: {log}\n  category_column: category\n  negative_history: true\n  embedding_dim: 4\n  max_history: 5\n"
            + "model:\n  kind: dien\n  mlp_hidden: [8]\n  attention_hidden: [4]\n  aux_hidden: [4]\ntrain:\n  epochs: 1\n  batch_size: 32\n");
        var run = Path.Combine(_dir, "run");
        var (code, err) = Run("train", "--config", cfg, "--out", run);
        Assert.True(code == 0, err);
        var model = Path.Combine(run, "model");
        using (var spec = JsonDocument.Parse(File.ReadAllText(Path.Combine(model, "serving.json"))))
        {
            Assert.Equal("behaviour_log", spec.RootElement.GetProperty("protocol").GetString());
            Assert.Equal(5, spec.RootElement.GetProperty("max_history").GetInt32());
        }
        // A raw log without labels, with a user and items the training log never had.
        var rows = Path.Combine(_dir, "rows.csv");
        File.WriteAllLines(rows, ["user,item,time", "u1,m3,5000", "newcomer,m4,5001", "u1,m7,5002", "newcomer,brand-new,5003", "u1,m3,5004"]);
        var outCsv = Path.Combine(_dir, "p.csv");
        (code, err) = Run("predict", "--model", model, "--data", rows, "--out", outCsv);
        Assert.True(code == 0, err);
        var preds = File.ReadAllLines(outCsv);
        Assert.Equal("row,user,item,probability", preds[0]);
        Assert.Equal(["0,u1,m3", "1,newcomer,m4", "2,u1,m7", "3,newcomer,brand-new", "4,u1,m3"], preds.Skip(1).Select(l => l[..l.LastIndexOf(',')]));
        Assert.All(preds.Skip(1), l => Assert.InRange(double.Parse(l.Split(',')[3], System.Globalization.CultureInfo.InvariantCulture), 0.0, 1.0));
        // One request of raw values scores as predict scored the same row: u1 with history m3, candidate m7 (row 2).
        var ranker = DeepInterest.Models.Serving.Ranker.Open(model);
        var ranked = ranker.Rank(new DeepInterest.Data.Serving.RankRequest { User = "u1", History = [new("m3")], Candidates = ["m7", "brand-new"] });
        Assert.Equal((1, 1, 1), (ranked.HistoryGiven, ranked.HistoryUsed, ranked.UnknownCandidates));
        Assert.Equal(double.Parse(preds[3].Split(',')[3], System.Globalization.CultureInfo.InvariantCulture), ranked.Candidates[0].Probability, 5);
        var noCandidates = Assert.Throws<DeepInterest.Data.Serving.RequestException>(() => ranker.Rank(new DeepInterest.Data.Serving.RankRequest { User = "u1" }));
        Assert.Equal("candidates", noCandidates.Field);
        // evaluate needs labels; with them it scores.
        (code, err) = Run("evaluate", "--model", model, "--data", rows);
        Assert.Equal(1, code);
        Assert.Equal($"error: {rows}: no 'label' column; evaluate needs labelled rows (predict scores rows without labels)", err.Trim());
        var labelled = Path.Combine(_dir, "labelled.csv");
        File.WriteAllLines(labelled, ["user,item,time,label", "u1,m3,5000,1", "u1,m9,5000,0", "u2,m4,5001,1", "u2,m8,5001,0", "u1,m7,5002,1", "u1,m1,5002,0"]);
        (code, err) = Run("evaluate", "--model", model, "--data", labelled);
        Assert.True(code == 0, err);
        // explain names the history by raw item ids: row 4 (u1's third row) has m3, m7 before it.
        var svg = Path.Combine(_dir, "why.svg");
        (code, err) = Run("explain", "--model", model, "--data", rows, "--row", "4", "--out", svg);
        Assert.True(code == 0, err);
        var text = File.ReadAllText(svg);
        Assert.Contains("row 4 (user u1, item m3)", text);
        Assert.Contains(">m3</text>", text);
        Assert.Contains(">m7</text>", text);
        Assert.DoesNotContain(">#", text);
        (code, err) = Run("predict", "--model", model, "--data", Path.Combine(_dir, "missing.csv"), "--out", outCsv);
        Assert.Equal(1, code);
        Assert.Equal($"error: {Path.Combine(_dir, "missing.csv")}: file not found", err.Trim());
        File.WriteAllLines(rows, ["user,item,time", "u1,m3,soon"]);
        (code, err) = Run("predict", "--model", model, "--data", rows, "--out", outCsv);
        Assert.Equal(1, code);
        Assert.Equal($"error: {rows}:2:3: 'time' expected an integer, got 'soon'", err.Trim());
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
        Assert.True(File.Exists(Path.Combine(cache, "serving.json")));
        var run = Path.Combine(_dir, "dsin");
        (code, err) = Run("train", "--config", cfg, "--out", run, "--set", $"data.cache={cache}");
        Assert.True(code == 0, err);
        Assert.Equal(File.ReadAllText(Path.Combine(cache, "serving.json")), File.ReadAllText(Path.Combine(run, "model", "serving.json")));
        // The raw log itself: sessions are cut from each user's earlier rows; predict names raw ids, also for a prepared split.
        var raw = Path.Combine(_dir, "raw.svg");
        (code, err) = Run("explain", "--model", Path.Combine(run, "model"), "--data", log, "--row", "700", "--out", raw);
        Assert.True(code == 0, err);
        Assert.Contains("share of the session interest", File.ReadAllText(raw));
        Assert.Matches(">m[0-9]+</text>", File.ReadAllText(raw));
        (code, err) = Run("predict", "--model", Path.Combine(run, "model"), "--data", log, "--out", Path.Combine(_dir, "r.csv"));
        Assert.True(code == 0, err);
        var scored = File.ReadAllLines(Path.Combine(_dir, "r.csv"));
        Assert.Equal(lines.Count, scored.Length);                                                 // every row, the first of each user with no history at all
        Assert.All(scored.Skip(1), l => Assert.InRange(double.Parse(l.Split(',')[3], System.Globalization.CultureInfo.InvariantCulture), 0.0, 1.0));
        (code, err) = Run("predict", "--model", Path.Combine(run, "model"), "--data", Path.Combine(cache, "test.safetensors"), "--out", Path.Combine(_dir, "t.csv"));
        Assert.True(code == 0, err);
        Assert.Matches("^0,u[0-9]+,m[0-9]+,", File.ReadAllLines(Path.Combine(_dir, "t.csv"))[1]);
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
            Assert.Equal("row,user,item,probability", preds[0]);
            Assert.Equal(3, preds.Length - 1);                        // two test rows + the unseen one
            Assert.StartsWith("2,999999,999998,", preds[3]);
            Assert.All(preds.Skip(1), l => Assert.InRange(double.Parse(l.Split(',')[3], System.Globalization.CultureInfo.InvariantCulture), 0.0, 1.0));
            Assert.True(File.Exists(Path.Combine(model, "serving.json")));
            var svg = Path.Combine(dir, "e.svg");
            Assert.Equal(0, Program.Main(["explain", "--model", model, "--data", csv, "--row", "2", "--out", svg]));
            var text = File.ReadAllText(svg);
            Assert.Contains("<svg", text);
            Assert.Equal(2, text.Split("<rect x=\"260\"").Length - 1);                         // one bar per history item (2 in that row)
            Assert.Contains(">(unknown)</text>", text);                                            // 999997 was never seen
            Assert.Contains(">48 Pocahontas (1995)</text>", text);                                 // raw id and title from the training rows
            Assert.Equal(1, Program.Main(["explain", "--model", model, "--data", csv, "--row", "99", "--out", svg]));
        }
        finally { Directory.Delete(dir, true); }
    }
}
