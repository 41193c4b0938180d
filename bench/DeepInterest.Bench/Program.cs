using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DeepInterest.Data.Batches;
using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Kernels;
using DeepInterest.Engine.Modules;
using DeepInterest.Engine.Optim;
using DeepInterest.Models.Benchmarks;
using DeepInterest.Models.Networks;

namespace DeepInterest.Bench;

/// <summary>
/// Throughput benchmarks. <c>gemm</c>: GFLOP/s on the models' shapes. <c>train|infer|latency WORKLOAD [--batch N]</c>:
/// the workloads of ../shared/bench/pytorch (amazon-din, amazon-dien) on the same synthetic
/// distribution. <c>--json</c> prints one JSON object per result; <c>--seconds S</c> sets the timed span.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0) { Console.Error.WriteLine("usage: bench gemm | train|infer|latency amazon-din|amazon-dien [--batch N] [--seconds S] [--json] | rank --model DIR --requests BODIES.jsonl [--callers C]"); return 2; }
        bool json = args.Contains("--json");
        double seconds = Arg(args, "--seconds", 20.0);
        try
        {
            switch (args[0])
            {
                case "gemm": GemmBench(json); return 0;
                case "gru": GruBench((int)Arg(args, "--batch", 1024), seconds, json); return 0;
                case "cache": CacheBench(args.Length > 1 && !args[1].StartsWith("--") ? args[1] : "../shared/data", json); return 0;
                case "train": Emit(Workloads.Train(args[1], (int)Arg(args, "--batch", 256), seconds), json); return 0;
                case "infer": Emit(Workloads.Infer(args[1], seconds), json); return 0;
                case "latency": Emit(Workloads.Latency(args[1], seconds), json); return 0;
                case "profile": Workloads.Profile(args[1], (int)Arg(args, "--batch", 256), json); return 0;
                case "rank":
                    if (Arg(args, "--threads", 0) is > 0 and var t) Par.Threads = (int)t;
                    RankBench(Text(args, "--model"), Text(args, "--requests"), (int)Arg(args, "--callers", 8), seconds, json); return 0;
                default: Console.Error.WriteLine($"bench: unknown workload '{args[0]}'"); return 2;
            }
        }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException)
        {
            Console.Error.WriteLine($"bench: {e.Message}");
            return 2;
        }
    }

    private static string Text(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"bench rank: {name} is required");
    }

    /// <summary>
    /// The in-process side of docs/serving.md: one <see cref="DeepInterest.Models.Serving.Ranker"/> shared
    /// by <paramref name="callers"/> threads ranking the request bodies of a file (parsed once, as the
    /// server's RequestParser parses them) back to back for <paramref name="seconds"/>
    /// (<see cref="Workloads.RunCallers"/>): requests/s, candidates/s and per-request p50/p99/p99.9 —
    /// the figure HTTP + JSON is compared with.
    /// </summary>
    private static void RankBench(string model, string requests, int callers, double seconds, bool json)
    {
        var ranker = DeepInterest.Models.Serving.Ranker.Open(model);
        var bodies = File.ReadAllLines(requests).Where(l => l.Length > 0)
            .Select(l => DeepInterest.Serving.RequestParser.Parse(System.Text.Encoding.UTF8.GetBytes(l), int.MaxValue).Request).ToArray();
        for (int w = 0; w < 200; w++) ranker.Rank(bodies[w % bodies.Length]);                 // tiered JIT, on one thread
        var (perSecond, all) = Workloads.RunCallers(c =>
        {
            int next = c;                                                                   // each caller walks the bodies from its own start
            return () => ranker.Rank(bodies[next++ % bodies.Length]);
        }, callers, seconds);
        Emit(new Dictionary<string, object>
        {
            ["phase"] = "rank-in-process", ["model"] = ranker.Model.Kind, ["callers"] = callers, ["requests"] = all.Length,
            ["requests_per_s"] = perSecond, ["candidates_per_s"] = perSecond * bodies.Average(b => b.Candidates.Count),
            ["p50_ms"] = all[all.Length / 2], ["p99_ms"] = all[(int)(all.Length * 0.99)], ["p999_ms"] = all[(int)(all.Length * 0.999)],
        }, json);
    }

    private static double Arg(string[] a, string name, double def)
    {
        int i = Array.IndexOf(a, name);
        return i >= 0 && i + 1 < a.Length ? double.Parse(a[i + 1], CultureInfo.InvariantCulture) : def;
    }

    private static void Emit(Dictionary<string, object> r, bool json)
    {
        if (json) Console.WriteLine(JsonSerializer.Serialize(r));
        else foreach (var (k, v) in r) Console.WriteLine($"{k,-28} {(v is double d ? d.ToString("G5", CultureInfo.InvariantCulture) : v)}");
    }

    /// <summary>
    /// Loading a prepared cache versus building the same split from text: the seed tutorial's CSV
    /// (parse + encode) and the full ML-1M DIN protocol (read the interaction log + build samples).
    /// Each is timed warm (second of two runs) so the OS file cache is equal for both.
    /// </summary>
    private static void CacheBench(string shared, bool json)
    {
        var dir = Directory.CreateTempSubdirectory("di-cache-bench").FullName;
        try
        {
            double Time(Action a) { a(); var sw = Stopwatch.StartNew(); a(); return sw.Elapsed.TotalSeconds; }
            var seedTrain = Path.Combine(shared, "movielens-1m-prediction-flow", "train.csv");
            var seedTest = Path.Combine(shared, "movielens-1m-prediction-flow", "test.csv");
            Data.Protocols.MovieLensSeed.Splits seed = null!;
            double parse = Time(() => seed = Data.Protocols.MovieLensSeed.Load(seedTrain, seedTest, 16, 0.1, 1));
            var p1 = Path.Combine(dir, "seed.safetensors");
            Data.Storage.DatasetCache.Save(seed.Train, p1);
            double load = Time(() => Data.Storage.DatasetCache.Load(p1));
            Emit(new() { ["data"] = "movielens_seed train split", ["rows"] = seed.Train.Count, ["build_s"] = parse, ["cache_load_s"] = load, ["speedup"] = parse / load, ["cache_mb"] = new FileInfo(p1).Length / 1e6 }, json);
            Data.Protocols.DinProtocol.Result r = null!;
            double build = Time(() =>
            {
                var (seqs, cats) = Data.Protocols.MovieLens1M.Read(Path.Combine(shared, "movielens-1m-ordered", "ml1m_ordered_interactions.csv.gz"), Path.Combine(shared, "movielens-1m", "movies.dat"));
                r = Data.Protocols.DinProtocol.Build(seqs, cats, new Data.Protocols.DinProtocolOptions(20, 0.1, 18, 1));
            });
            var p2 = Path.Combine(dir, "ml1m.safetensors");
            Data.Storage.DatasetCache.Save(r.Train, p2);
            double load2 = Time(() => Data.Storage.DatasetCache.Load(p2));
            Emit(new() { ["data"] = "ml1m_din train split", ["rows"] = r.Train.Count, ["build_s"] = build, ["cache_load_s"] = load2, ["speedup"] = build / load2, ["cache_mb"] = new FileInfo(p2).Length / 1e6 }, json);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// One AUGRU layer of the amazon-dien workload (T = 50, lengths uniform in [1, 50], input and
    /// hidden 36): median ms of the forward without gradients (scoring) and of forward + backward.
    /// </summary>
    private static void GruBench(int batch, double seconds, bool json)
    {
        int t = 50, inF = 36, h = 36;
        var rng = new Rng(3);
        var gru = new Gru(inF, h, rng, GruKind.Augru);
        var x = Tensor.FromArray(Enumerable.Range(0, batch * t * inF).Select(_ => rng.NextFloat() - 0.5f).ToArray(), new Shape(batch, t, inF), requiresGrad: true);
        var a = Tensor.FromArray(Enumerable.Range(0, batch * t).Select(_ => rng.NextFloat()).ToArray(), new Shape(batch, t), requiresGrad: true);
        var lengths = new IntTensor(Enumerable.Range(0, batch).Select(_ => 1 + (int)(rng.NextFloat() * t) % t).ToArray());
        double Median(Action run)
        {
            var times = new List<double>();
            var total = Stopwatch.StartNew();
            while (total.Elapsed.TotalSeconds < seconds || times.Count < 5)
            {
                var sw = Stopwatch.StartNew();
                using (Arena.Begin()) run();
                times.Add(sw.Elapsed.TotalMilliseconds);
            }
            times.Sort();
            return times[times.Count / 2];
        }
        void Forward() { using var ng = Tape.NoGrad(); _ = gru.Forward(x, lengths, scores: a); }
        void Train()
        {
            x.ZeroGrad(); a.ZeroGrad(); gru.ZeroGrad();
            var r = gru.Forward(x, lengths, scores: a);
            F.Sum(r.Outputs).Backward();
        }
        Median(Forward); Median(Train);   // warm-up (tiered JIT)
        double fwd = Median(Forward), train = Median(Train);
        if (Environment.GetEnvironmentVariable("GRU_SECTIONS") == "1")
        {
            Profiler.Start(); int reps = 20;
            for (int i = 0; i < reps; i++) using (Arena.Begin()) Train();
            Profiler.Stop();
            foreach (var (op, f, bw, calls) in Profiler.Report()) Console.WriteLine($"{op,-22} fwd {f / reps,7:F3} ms  bwd {bw / reps,7:F3} ms");
        }
        if (json) Console.WriteLine(JsonSerializer.Serialize(new { bench = "gru", batch, fwd_ms = fwd, train_ms = train }));
        else Console.WriteLine($"AUGRU B={batch} T={t} H={h}: forward (no grad) {fwd:F3} ms, forward+backward {train:F3} ms");
    }

    private static void GemmBench(bool json)
    {
        // (name, transA, transB, m, n, k, beta): the attention MLP's first layer forward (x·Wᵀ), its backward
        // forms, the main MLP and a square reference.
        var shapes = new (string, bool, bool, int, int, int, float)[]
        {
            ("att1 fwd x·Wᵀ [12800,144]x[80,144]ᵀ", false, true, 12800, 80, 144, 0f),
            ("att1 bwd gy·W [12800,80]x[80,144]", false, false, 12800, 144, 80, 0f),
            ("att1 bwd gyᵀ·x [80,12800]x[12800,144]", true, false, 80, 144, 12800, 0f),
            ("att2 fwd [12800,80]x[40,80]ᵀ", false, true, 12800, 40, 80, 0f),
            ("mlp1 fwd [256,90]x[200,90]ᵀ", false, true, 256, 200, 90, 0f),
            ("aux2 fwd [6300,100]x[50,100]ᵀ", false, true, 6300, 50, 100, 0f),
            ("gru dX [6500,108]x[108,36]", false, false, 6500, 36, 108, 0f),
            ("gru dW_hh gᵀ·h [108,6500]x[6500,36]", true, false, 108, 36, 6500, 0f),
            ("square 1024 NN", false, false, 1024, 1024, 1024, 0f),
            // W1 DIN as trained: ≈ 6,528 real behaviours per batch of 256; backward accumulates (beta = 1).
            ("W1 att1 fwd [6528,72]x[80,72]ᵀ", false, true, 6528, 80, 72, 0f),
            ("W1 att1 dX [6528,80]x[80,72] β=1", false, false, 6528, 72, 80, 1f),
            ("W1 att1 dW [80,6528]x[6528,72] β=1", true, false, 80, 72, 6528, 1f),
            ("W1 att2 fwd [6528,80]x[40,80]ᵀ", false, true, 6528, 40, 80, 0f),
            ("W1 att2 dX [6528,40]x[40,80] β=1", false, false, 6528, 80, 40, 1f),
            ("W1 att2 dW [40,6528]x[6528,80] β=1", true, false, 40, 80, 6528, 1f),
        };
        var rng = new Rng(1);
        var only = Environment.GetEnvironmentVariable("GEMM_ONLY");   // a substring of the shape names to run alone
        foreach (var (name, ta, tb, m, n, k, beta) in shapes)
        {
            if (only is not null && !name.Contains(only)) continue;
            var a = new float[m * k]; var b = new float[k * n]; var c = new float[m * n];
            for (int i = 0; i < a.Length; i++) a[i] = rng.NextFloat() - 0.5f;
            for (int i = 0; i < b.Length; i++) b[i] = rng.NextFloat() - 0.5f;
            int lda = ta ? m : k, ldb = tb ? k : n;
            void Run() => Gemm.Sgemm(ta, tb, m, n, k, 1f, a, lda, b, ldb, beta, c, n);
            // Half a second first: the JIT compiles the kernels in tiers, and the first shapes measured
            // half their speed without it.
            for (var warm = Stopwatch.StartNew(); warm.Elapsed.TotalSeconds < 0.5;) Run();
            var times = new List<double>();
            var total = Stopwatch.StartNew();
            while (total.Elapsed.TotalSeconds < (only is null ? 1.0 : 5.0) || times.Count < 3)
            {
                var sw = Stopwatch.StartNew();
                Run();
                times.Add(sw.Elapsed.TotalSeconds);
            }
            times.Sort();
            double med = times[times.Count / 2];
            Emit(new() { ["shape"] = name, ["gflops"] = 2.0 * m * n * k / med / 1e9, ["ms"] = med * 1e3, ["threads"] = Par.Threads }, json);
        }
    }
}
