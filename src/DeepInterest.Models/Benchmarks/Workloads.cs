using System.Diagnostics;
using System.Text.Json;
using DeepInterest.Data.Batches;
using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Kernels;
using DeepInterest.Engine.Modules;
using DeepInterest.Engine.Optim;
using DeepInterest.Models.Networks;

namespace DeepInterest.Models.Benchmarks;

/// <summary>The PyTorch baseline's workloads (../shared/bench/pytorch/bench.py) rebuilt on our engine.</summary>
public static class Workloads
{
    private const int Users = 192_403, Items = 63_001, Cates = 801, T = 50, Emb = 18;

    /// <summary>
    /// W3 (the seed tutorial's movielens net): gender 3, movieId 3700, occupation 22, zipCode 3400, age
    /// (dense), genres (≤ 6 of 20), histHighRatedMovieIds and negHistMovieIds (T = 50, 3700), embedding 16,
    /// attention [16, 8] with Dice, MLP [32, 16] with PReLU and BatchNorm, dropout 0.1 / 0.25,
    /// Adam(0.002, weight decay 0.001 — applied lazily to the batch's rows here).
    /// </summary>
    private static (FeatureSchema, ModelOptions) MovieLensSpec(bool dien) =>
        (new FeatureSchema
        {
            Tables = [new("gender", 3, 16), new("movie", 3700, 16), new("occupation", 22, 16), new("zipCode", 3400, 16), new("genre", 20, 16)],
            Sparse = [new("gender", "gender"), new("movieId", "movie"), new("occupation", "occupation"), new("zipCode", "zipCode")],
            Dense = [new("age")],
            Sequences = [new("genres", "genre", 6), new("histHighRatedMovieIds", "movie", T), new("negHistMovieIds", "movie", T)],
            Groups = [new("movie", [dien ? new AttentionPair("movieId", "histHighRatedMovieIds", "negHistMovieIds") : new AttentionPair("movieId", "histHighRatedMovieIds")])],
        }.Validate(),
        Options(dien, attention: [16, 8], mlp: [32, 16], attentionDropout: 0.1f, mlpDropout: 0.25f));

    /// <summary>DIN (sigmoid weights) or DIEN (AUGRU, softmax weights, auxiliary loss α = 1) with Dice attention and a PReLU + BatchNorm MLP.</summary>
    private static ModelOptions Options(bool dien, int[] attention, int[] mlp, float attentionDropout = 0f, float mlpDropout = 0f) => dien
        ? new DienOptions
        {
            AttentionHidden = attention, AttentionActivation = Activation.Dice, AttentionDropout = attentionDropout,
            MlpHidden = mlp, MlpActivation = Activation.PRelu, MlpBatchNorm = true, MlpDropout = mlpDropout,
            Normalization = AttentionNormalization.Softmax, Evolution = EvolutionKind.Augru, AuxHidden = [100, 50], AuxLossWeight = 1f, Seed = 1024,
        }
        : new DinOptions
        {
            AttentionHidden = attention, AttentionActivation = Activation.Dice, AttentionDropout = attentionDropout,
            MlpHidden = mlp, MlpActivation = Activation.PRelu, MlpBatchNorm = true, MlpDropout = mlpDropout,
            Normalization = AttentionNormalization.Sigmoid, Seed = 1024,
        };

    public static AdamOptions Optimizer(string workload) =>
        workload.StartsWith("movielens", StringComparison.Ordinal) ? new AdamOptions(0.002f, WeightDecay: 0.001f, Sparse: SparseMode.Lazy) : new AdamOptions(1e-3f, Sparse: SparseMode.Lazy);

    public static (FeatureSchema Schema, ModelOptions Options) Spec(string workload)
    {
        if (workload is "movielens-din" or "movielens-dien") return MovieLensSpec(workload == "movielens-dien");
        bool dien = workload switch
        {
            "amazon-din" => false,
            "amazon-dien" => true,
            _ => throw new ArgumentException($"unknown workload '{workload}' (amazon-din, amazon-dien, movielens-din, movielens-dien)"),
        };
        var schema = new FeatureSchema
        {
            Tables = [new("user", Users, Emb), new("item", Items, Emb), new("cate", Cates, Emb)],
            Sparse = [new("user", "user"), new("item", "item"), new("cate", "cate")],
            Sequences = dien
                ? [new("hist_item", "item", T), new("hist_cate", "cate", T), new("neg_hist_item", "item", T), new("neg_hist_cate", "cate", T)]
                : [new("hist_item", "item", T), new("hist_cate", "cate", T)],
            Groups = [new("behaviour", dien
                ? [new AttentionPair("item", "hist_item", "neg_hist_item"), new AttentionPair("cate", "hist_cate", "neg_hist_cate")]
                : [new AttentionPair("item", "hist_item"), new AttentionPair("cate", "hist_cate")])],
        }.Validate();
        return (schema, Options(dien, attention: [80, 40], mlp: [200, 80]));
    }

    /// <summary>Ids uniform in [1, vocab − 1], history lengths uniform in [1, T], labels Bernoulli(½), categories a fixed function of items.</summary>
    public static CtrDataset Pool(FeatureSchema schema, int n, ulong seed)
    {
        var rng = new Rng(seed);
        var d = new CtrDataset(schema, n);
        if (schema.Dense.Count > 0) return MovieLensPool(d, rng);
        var cateOf = new int[Items];
        var crng = new Rng(99);
        for (int i = 1; i < Items; i++) cateOf[i] = 1 + crng.NextInt(Cates - 1);
        for (int r = 0; r < n; r++)
        {
            d.Sparse["user"][r] = 1 + rng.NextInt(Users - 1);
            int item = 1 + rng.NextInt(Items - 1);
            d.Sparse["item"][r] = item;
            d.Sparse["cate"][r] = cateOf[item];
            int len = 1 + rng.NextInt(T);
            foreach (var (hist, cate) in new[] { ("hist_item", "hist_cate"), ("neg_hist_item", "neg_hist_cate") })
            {
                if (!d.Sequences.ContainsKey(hist)) continue;
                var hi = d.Sequences[hist]; var hc = d.Sequences[cate];
                for (int t = 0; t < len; t++)
                {
                    int it = 1 + rng.NextInt(Items - 1);
                    hi.Ids[r * T + t] = it;
                    hc.Ids[r * T + t] = cateOf[it];
                }
                hi.Lengths[r] = hc.Lengths[r] = len;
            }
            d.Labels[r] = rng.NextInt(2);
            d.UserIds[r] = d.Sparse["user"][r];
        }
        return d;
    }

    private static CtrDataset MovieLensPool(CtrDataset d, Rng rng)
    {
        foreach (var f in d.Schema.Sparse)
        {
            int v = d.Schema.Table(f.Table).Vocab;
            for (int r = 0; r < d.Count; r++) d.Sparse[f.Name][r] = 1 + rng.NextInt(v - 1);
        }
        for (int r = 0; r < d.Count; r++)
        {
            d.Dense["age"][r] = rng.NextFloat();
            var g = d.Sequences["genres"];
            g.Lengths[r] = 1 + rng.NextInt(6);
            for (int t = 0; t < g.Lengths[r]; t++) g.Ids[r * 6 + t] = 1 + rng.NextInt(19);
            int len = 1 + rng.NextInt(T);
            foreach (var name in new[] { "histHighRatedMovieIds", "negHistMovieIds" })
            {
                var h = d.Sequences[name];
                h.Lengths[r] = len;
                for (int t = 0; t < len; t++) h.Ids[r * T + t] = 1 + rng.NextInt(3699);
            }
            d.Labels[r] = rng.NextInt(2);
            d.UserIds[r] = r;
        }
        return d;
    }

    /// <summary>
    /// Runs <paramref name="work"/> for 2 s and at least <paramref name="minCalls"/> times before timing starts:
    /// .NET's tiered JIT recompiles hot methods (with profile-guided optimisation) during roughly the first
    /// second, so a shorter warm-up would time partly unoptimised code. PyTorch's bench warms up by a fixed
    /// count (20 steps, 3 scoring batches, 20 requests); its kernels are compiled ahead of time.
    /// </summary>
    private static void WarmUp(Action work, int minCalls)
    {
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < minCalls || sw.Elapsed.TotalSeconds < 2; i++) work();
    }

    public static Dictionary<string, object> Train(string workload, int batch, double seconds)
    {
        var (schema, options) = Spec(workload);
        var data = Pool(schema, 32 * batch, 20240601UL + (ulong)batch);
        var model = CtrModel.Create(schema, options);
        var opt = new Adam(model.NamedParameters(), Optimizer(workload));
        var it = new BatchIterator(data, batch, shuffle: false, 0);
        var input = new ModelInput();
        var batches = it.Epoch().GetEnumerator();
        Batch Next()
        {
            if (!batches.MoveNext()) { batches = it.Epoch().GetEnumerator(); batches.MoveNext(); }
            return batches.Current;
        }
        double fwd = 0, bwd = 0, step = 0;
        void Step(bool timed)
        {
            var b = Next();
            using var arena = Arena.Begin();
            input.Load(schema, b);
            opt.ZeroGrad();
            long t0 = Stopwatch.GetTimestamp();
            var loss = model.Loss(input);
            _ = loss.Item();
            long t1 = Stopwatch.GetTimestamp();
            loss.Backward();
            long t2 = Stopwatch.GetTimestamp();
            opt.Step();
            long t3 = Stopwatch.GetTimestamp();
            if (timed) { fwd += t1 - t0; bwd += t2 - t1; step += t3 - t2; }
        }
        WarmUp(() => Step(false), 20);
        long alloc0 = GC.GetAllocatedBytesForCurrentThread();
        int steps = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < seconds || steps < 5) { Step(true); steps++; }
        double secs = sw.Elapsed.TotalSeconds;
        long allocPerStep = (GC.GetAllocatedBytesForCurrentThread() - alloc0) / steps;
        double f = Stopwatch.Frequency / 1e3;
        return new()
        {
            ["workload"] = workload, ["model"] = options.Kind, ["phase"] = "train", ["batch"] = batch,
            ["samples_per_s"] = steps * batch / secs, ["steps"] = steps,
            ["fwd_ms"] = fwd / f / steps, ["bwd_ms"] = bwd / f / steps, ["optim_ms"] = step / f / steps,
            ["alloc_bytes_per_step"] = (double)allocPerStep, ["peak_rss_mb"] = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0,
            ["threads"] = Par.Threads,
        };
    }

    /// <summary>Per-op forward and backward time over 50 training steps (after 20 warm-up steps).</summary>
    /// <summary>
    /// Per-op time of 50 steps after 20 warm-up steps: training (forward, backward, optimizer) or, with
    /// <paramref name="scoring"/>, the evaluation-mode forward of the scoring figure (recorded on the
    /// tape so ops can be timed, but never run backward).
    /// </summary>
    public static void Profile(string workload, int batch, bool json, bool scoring = false)
    {
        var (schema, options) = Spec(workload);
        var data = Pool(schema, 32 * batch, 20240601UL + (ulong)batch);
        var model = CtrModel.Create(schema, options);
        if (scoring) model.Eval();
        var opt = new Adam(model.NamedParameters(), new AdamOptions(1e-3f, Sparse: SparseMode.Lazy));
        var it = new BatchIterator(data, batch, shuffle: false, 0);
        var input = new ModelInput();
        int steps = 0;
        double optimMs = 0;
        for (int round = 0; steps < 70; round++)
            foreach (var b in it.Epoch())
            {
                if (steps == 20) Profiler.Start();
                using (Arena.Begin())
                {
                    input.Load(schema, b);
                    Profiler.Mark();
                    if (scoring) { _ = model.Forward(input).Logits.Span[0]; Tape.Clear(); }
                    else
                    {
                        opt.ZeroGrad();
                        var loss = model.Loss(input);
                        loss.Backward();
                        long t0 = Stopwatch.GetTimestamp();
                        opt.Step();
                        if (Profiler.Enabled) optimMs += (Stopwatch.GetTimestamp() - t0) * 1e3 / Stopwatch.Frequency;
                    }
                }
                if (++steps == 70) break;
            }
        Profiler.Stop();
        var rows = Profiler.Report();
        double total = rows.Where(r => !r.Op.StartsWith(' ')).Sum(r => r.ForwardMs + r.BackwardMs) + optimMs;   // sections are inside their ops' time
        foreach (var (op, f, bw, calls) in rows.Append(("AdamStep", 0.0, optimMs, 50L)))
        {
            var r = new Dictionary<string, object> { ["op"] = op, ["fwd_ms_per_step"] = f / 50, ["bwd_ms_per_step"] = bw / 50, ["share"] = (f + bw) / total, ["calls_per_step"] = calls / 50.0 };
            if (json) Console.WriteLine(JsonSerializer.Serialize(r));
            else Console.WriteLine($"{op,-22} fwd {f / 50,7:F3} ms  bwd {bw / 50,7:F3} ms  {(f + bw) / total,6:P1}  {calls / 50.0,5:F1} calls/step");
        }
    }

    public static Dictionary<string, object> Infer(string workload, double seconds)
    {
        var (schema, options) = Spec(workload);
        var data = Pool(schema, 8 * 1024, 20240601UL + 1024);
        var model = CtrModel.Create(schema, options);
        model.Eval();
        var it = new BatchIterator(data, 1024, shuffle: false, 0);
        var input = new ModelInput();
        int batches = 0;
        void Pass(bool count)
        {
            using var noGrad = Tape.NoGrad();
            foreach (var b in it.Epoch())
            {
                using var arena = Arena.Begin();
                input.Load(schema, b);
                _ = model.Forward(input).Logits.Span[0];
                if (count) batches++;
            }
        }
        WarmUp(() => Pass(false), 1);
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < Math.Min(seconds, 10) || batches < 20) Pass(true);
        return new()
        {
            ["workload"] = workload, ["model"] = options.Kind, ["phase"] = "infer", ["batch"] = 1024,
            ["samples_per_s"] = batches * 1024 / sw.Elapsed.TotalSeconds, ["peak_rss_mb"] = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0,
        };
    }

    /// <summary>
    /// A ranking request: one user with a full history (T = 50) against N candidates, N ∈ {1, 10, 100,
    /// 1000}, scored three ways — one batch with the user's side computed once
    /// (<see cref="ModelInput.SharedUser"/>, what <c>Ranker</c> does), the same batch as independent rows,
    /// and each (user, candidate) row as its own 1-row batch — in candidates per second.
    /// </summary>
    public static IEnumerable<Dictionary<string, object>> Rank(string workload, double seconds)
    {
        var (schema, options) = Spec(workload);
        var pool = Pool(schema, 2048, 20240601UL + 7);
        var model = CtrModel.Create(schema, options);
        model.Eval();
        var rng = new Rng(99);
        int user = 0;
        foreach (var q in schema.Sequences)
        {
            var col = pool.Sequences[q.Name];
            col.Lengths[user] = q.MaxLength;
            for (int t = 0; t < q.MaxLength; t++) col.Ids[user * q.MaxLength + t] = 1 + (int)(rng.NextUInt() % (uint)(schema.Table(q.Table).Vocab - 1));
        }
        var targets = schema.Groups.SelectMany(g => g.Pairs.Select(p => p.Target)).Concat(schema.SessionGroups.SelectMany(g => g.Pairs.Select(p => p.Target))).ToHashSet();
        foreach (int n in new[] { 1, 10, 100, 1000 })
        {
            var rows = pool.Take(Enumerable.Repeat(user, n).ToList());
            for (int i = 0; i < n; i++)
                foreach (var t in targets) rows.Sparse[t][i] = pool.Sparse[t][(i * 7 + 1) % pool.Count];   // candidates from the pool
            var all = Enumerable.Range(0, n).ToArray();
            var batch = new Batch();
            batch.Fill(rows, all);
            var singles = all.Select(i => { var b = new Batch(); b.Fill(rows, [i]); return b; }).ToArray();
            var input = new ModelInput();
            double Measure(Action pass)
            {
                WarmUp(pass, 2);
                long done = 0;
                var sw = Stopwatch.StartNew();
                while (sw.Elapsed.TotalSeconds < seconds || done < 3) { pass(); done++; }
                return done * n / sw.Elapsed.TotalSeconds;
            }
            void Score(Batch b, bool shared)
            {
                using var noGrad = Tape.NoGrad();
                using var arena = Arena.Begin();
                input.Load(schema, b);
                input.SharedUser = shared;
                _ = model.Forward(input).Logits.Span[0];
            }
            double shared = Measure(() => Score(batch, true));
            double independent = Measure(() => Score(batch, false));
            double oneByOne = Measure(() => { foreach (var b in singles) Score(b, false); });
            yield return new()
            {
                ["workload"] = workload, ["model"] = options.Kind, ["phase"] = "rank", ["candidates"] = n, ["history"] = T,
                ["shared_user_candidates_per_s"] = shared, ["independent_rows_candidates_per_s"] = independent, ["one_by_one_candidates_per_s"] = oneByOne,
                ["speedup_over_one_by_one"] = shared / oneByOne,
            };
        }
    }

    /// <summary>
    /// One model shared by C caller threads (C ∈ <paramref name="callers"/>), each scoring batches of
    /// <paramref name="batch"/> rows back to back for <paramref name="seconds"/> after a warm-up, as
    /// concurrent requests to a scoring service do: total samples/s of all callers and the per-call
    /// p50/p99. Each caller has its own batches and input and scores inside its own evaluation scope
    /// (as <see cref="Training.Predictor"/> does), so the model's own flag is never touched.
    /// </summary>
    public static IEnumerable<Dictionary<string, object>> Concurrent(string workload, double seconds, int batch, IReadOnlyList<int> callers)
    {
        var (schema, options) = Spec(workload);
        var data = Pool(schema, batch * Math.Max(8, 8192 / batch), 20240601UL + (ulong)batch);
        var model = CtrModel.Create(schema, options);
        var first = new Caller(model, data, batch, 1);
        WarmUp(() => first.Call(), 20);                               // tiered JIT, on one thread
        double? alone = null;
        foreach (int c in callers)
        {
            var (callsPerSecond, lat) = RunCallers(i => new Caller(model, data, batch, (ulong)(i + 2)).Call, c, Math.Min(seconds, 30));
            double samplesPerSecond = callsPerSecond * batch;
            alone ??= c == 1 ? samplesPerSecond : null;
            yield return new()
            {
                ["workload"] = workload, ["model"] = options.Kind, ["phase"] = "concurrent", ["batch"] = batch, ["callers"] = c,
                ["samples_per_s"] = samplesPerSecond, ["vs_one_caller"] = alone is { } a ? samplesPerSecond / a : double.NaN,
                ["calls"] = lat.Length, ["p50_ms"] = lat[lat.Length / 2], ["p99_ms"] = lat[(int)(lat.Length * 0.99)], ["threads"] = Par.Threads,
            };
        }
    }

    /// <summary>One caller of <see cref="Concurrent"/>: its own shuffled batches of the shared pool and its own input.</summary>
    private sealed class Caller(CtrModel model, CtrDataset data, int batch, ulong seed)
    {
        private readonly BatchIterator _it = new(data, batch, shuffle: true, seed);
        private readonly ModelInput _input = new();
        private IEnumerator<Batch>? _batches;

        public void Call()
        {
            if (_batches is null || !_batches.MoveNext()) { _batches = _it.Epoch().GetEnumerator(); _batches.MoveNext(); }
            using var noGrad = Tape.NoGrad();
            using var evaluating = Module.Evaluating();
            using var arena = Arena.Begin();
            _input.Load(model.Schema, _batches.Current);
            _ = model.Forward(_input).Logits.Span[0];
        }
    }

    /// <summary>
    /// <paramref name="count"/> callers on their own threads, caller i making calls with
    /// <c>makeCaller(i)</c>: 0.5 s of warm-up calls (each thread's arena fills its pools), then all
    /// start the timed span together; calls/s counts every call started in the span over the time
    /// until the last one ended. Returns the per-call latencies (ms) sorted.
    /// </summary>
    public static (double CallsPerSecond, double[] LatencyMs) RunCallers(Func<int, Action> makeCaller, int count, double seconds)
    {
        long start = 0, end = 0;
        using var ready = new Barrier(count, _ =>
        {
            start = Stopwatch.GetTimestamp();
            end = start + (long)(seconds * Stopwatch.Frequency);
        });
        var lat = new List<double>[count];
        var finished = new long[count];
        var threads = Enumerable.Range(0, count).Select(i => new Thread(() =>
        {
            var call = makeCaller(i);
            var mine = lat[i] = new List<double>();
            long warm = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 2;
            while (Stopwatch.GetTimestamp() < warm) call();
            ready.SignalAndWait();
            long t = Stopwatch.GetTimestamp();
            while (t < Volatile.Read(ref end))
            {
                call();
                long t1 = Stopwatch.GetTimestamp();
                mine.Add((t1 - t) * 1e3 / Stopwatch.Frequency);
                t = t1;
            }
            finished[i] = t;
        }) { Name = $"bench-caller-{i}", IsBackground = true }).ToList();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        var all = lat.SelectMany(l => l).Order().ToArray();
        return (all.Length / ((finished.Max() - start) / (double)Stopwatch.Frequency), all);
    }

    public static Dictionary<string, object> Latency(string workload, double seconds)
    {
        var (schema, options) = Spec(workload);
        var data = Pool(schema, 256, 20240601UL + 1);
        var model = CtrModel.Create(schema, options);
        model.Eval();
        var it = new BatchIterator(data, 1, shuffle: false, 0);
        var input = new ModelInput();
        var lat = new List<double>();
        using (Tape.NoGrad())
        {
            void Request(Batch b, bool record)
            {
                long t0 = Stopwatch.GetTimestamp();
                using (Arena.Begin())
                {
                    input.Load(schema, b);
                    _ = model.Forward(input).Logits.Span[0];
                }
                if (record) lat.Add((Stopwatch.GetTimestamp() - t0) * 1e3 / Stopwatch.Frequency);
            }
            WarmUp(() => { foreach (var b in it.Epoch()) Request(b, false); }, 1);
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed.TotalSeconds < Math.Min(seconds, 10) || lat.Count < 500)
                foreach (var b in it.Epoch()) Request(b, true);
        }
        lat.Sort();
        return new()
        {
            ["workload"] = workload, ["model"] = options.Kind, ["phase"] = "latency", ["batch"] = 1,
            ["p50_ms"] = lat[lat.Count / 2], ["p99_ms"] = lat[(int)(lat.Count * 0.99)], ["requests"] = lat.Count,
        };
    }
}
