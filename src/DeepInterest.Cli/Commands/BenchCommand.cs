using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using DeepInterest.Engine.Kernels;
using DeepInterest.Models.Benchmarks;

namespace DeepInterest.Cli.Commands;

/// <summary>
/// <c>bench WORKLOAD [--figure train|infer|latency|concurrent|rank|profile|all] [--batch N] [--seconds S] [--json]</c>:
/// the throughput workloads of the performance issue (the same shapes and synthetic distribution
/// as ../shared/bench/pytorch; docs/performance.md has the side-by-side table). <c>concurrent</c>
/// (not part of <c>all</c>) scores with one model from 1, 2 and 4 caller threads at once.
/// </summary>
public static class BenchCommand
{
    public static readonly string[] Names = ["amazon-din", "amazon-dien", "movielens-din", "movielens-dien"];
    private static readonly string[] Figures = ["train", "infer", "latency", "concurrent", "rank", "profile", "profile-infer", "all"];

    /// <summary>The concurrent figure's request sizes (a serving request, the scoring batch) and caller counts.</summary>
    private static readonly int[] ConcurrentBatches = [100, 1024], ConcurrentCallers = [1, 2, 4];

    public static Command Create()
    {
        var workload = new Argument<string>("workload") { Description = string.Join(", ", Names) };
        var figure = new Option<string>("--figure") { Description = "train (samples/s, allocation), infer (scoring at batch 1024), latency (batch 1 p50/p99), concurrent (one model, 1/2/4 caller threads at batch 100 and 1024: samples/s, p50/p99 per call; --seconds per cell; not in all), rank (one user, history 50, against 1/10/100/1000 candidates: shared user side vs independent rows vs one by one, candidates/s; --seconds per cell; not in all), profile (per op, training), profile-infer (per op, scoring; use --batch 1024) or all", DefaultValueFactory = _ => "all" };
        var batch = new Option<int>("--batch") { Description = "training batch size", DefaultValueFactory = _ => 256 };
        var seconds = new Option<double>("--seconds") { Description = "timed span per figure, after warm-up", DefaultValueFactory = _ => 20 };
        var threads = new Option<int>("--threads") { Description = "worker threads (0 = all cores)", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "one JSON object per figure" };
        var cmd = new Command("bench", "Training and scoring throughput on the benchmark workloads") { workload, figure, batch, seconds, threads, json };
        cmd.SetAction(p => Run(p.GetValue(workload)!, p.GetValue(figure)!, p.GetValue(batch), p.GetValue(seconds), p.GetValue(threads), p.GetValue(json)));
        return cmd;
    }

    private static int Run(string workload, string figure, int batch, double seconds, int threads, bool json)
    {
        if (!Names.Contains(workload)) throw new ArgumentException($"bench: unknown workload '{workload}' (choose {string.Join(", ", Names)})");
        if (!Figures.Contains(figure)) throw new ArgumentException($"bench: unknown --figure '{figure}' (choose {string.Join(", ", Figures)})");
        if (batch < 1) throw new ArgumentException($"bench: --batch must be ≥ 1, got {batch}");
        if (!(seconds > 0)) throw new ArgumentException($"bench: --seconds must be positive, got {seconds}");
        if (threads > 0) Par.Threads = threads;
        bool all = figure == "all";
        if (all || figure == "train") Emit(Workloads.Train(workload, batch, seconds), json);
        if (all || figure == "infer") Emit(Workloads.Infer(workload, seconds), json);
        if (all || figure == "latency") Emit(Workloads.Latency(workload, seconds), json);
        if (figure == "concurrent")
            foreach (int b in ConcurrentBatches)
                foreach (var r in Workloads.Concurrent(workload, seconds, b, ConcurrentCallers)) Emit(r, json);
        if (figure == "rank")
            foreach (var r in Workloads.Rank(workload, seconds)) Emit(r, json);
        if (figure == "profile") Workloads.Profile(workload, batch, json);
        if (figure == "profile-infer") Workloads.Profile(workload, batch, json, scoring: true);
        return 0;
    }

    private static void Emit(Dictionary<string, object> r, bool json)
    {
        if (json) Console.WriteLine(JsonSerializer.Serialize(r));
        else
        {
            foreach (var (k, v) in r) Console.WriteLine($"{k,-28} {(v is double d ? d.ToString("G5", CultureInfo.InvariantCulture) : v)}");
            Console.WriteLine();
        }
    }
}
