using System.Collections.Concurrent;
using System.Numerics.Tensors;
using DeepInterest.Data.Batches;
using DeepInterest.Data.Schema;
using DeepInterest.Data.Synthetic;
using DeepInterest.Engine;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Modules;
using DeepInterest.Models.Networks;
using DeepInterest.Models.Training;

namespace DeepInterest.Models.Tests;

/// <summary>
/// One trained model shared by many threads: every model kind and variant scores mixed batches on 8
/// overlapping threads exactly as it does on one (probabilities and attention, bit for bit), and
/// Predictor/Explainer give their sequential results concurrently without touching the model's mode.
/// </summary>
public class ConcurrencyTests
{
    private const int Threads = 8, Rounds = 3;

    /// <summary>
    /// Batch sizes of the fixed batch list: single rows (the smallest GEMM paths), serving-sized and
    /// large batches (behaviours span several tiles of the fused scorer, so Par splits them), and one
    /// batch of rows that all lack history/sessions (<see cref="EmptyBatch"/>).
    /// </summary>
    private static readonly int[] Sizes = [1, 3, 17, 64, 200, 2, 5, 33, 128, 1, 7, 90, 256, 11, 4, 48, 150, 1, 23, 300, 9, 70, 2, 41, 3];
    private const int EmptyBatch = 24;

    /// <summary>Every <see cref="EmptyEvery"/>-th row has no history (DIN/DIEN/base) or no sessions (DSIN).</summary>
    private const int EmptyEvery = 7;

    private static readonly Lazy<CtrDataset> Planted = new(() =>
    {
        var d = PlantedInterest.Generate(new PlantedInterestOptions(Samples: 2_400, Users: 1_200, Items: 300, Categories: 20,
            MinHistory: 1, MaxHistory: 16, EmbeddingDim: 4, Seed: 11, NegativeHistory: true));
        for (int r = 0; r < d.Count; r += EmptyEvery)
            foreach (var col in d.Sequences.Values)
            {
                col.Lengths[r] = 0;
                Array.Clear(col.Ids, r * col.MaxLength, col.MaxLength);
            }
        d.CheckIds();
        return d;
    });

    private static readonly Lazy<CtrDataset> Sessions = new(() => SessionData(2_400));

    /// <summary>
    /// Users with a favourite category that fills about half of their sessions' items; a candidate of
    /// that category is clicked (some rows have no sessions at all, sessions have ragged lengths).
    /// </summary>
    private static CtrDataset SessionData(int n)
    {
        const int users = 1_200, items = 300, cates = 20, s = 4, l = 6;
        var schema = new FeatureSchema
        {
            Tables = [new("user", users + 1, 4), new("item", items + 1, 4), new("cate", cates + 1, 4)],
            Sparse = [new("user", "user"), new("item", "item"), new("cate", "cate")],
            Sessions = [new("sess_item", "item", s, l), new("sess_cate", "cate", s, l)],
            SessionGroups = [new("sessions", [new SessionPair("item", "sess_item"), new SessionPair("cate", "sess_cate")])],
        }.Validate();
        var d = new CtrDataset(schema, n);
        var rng = new Random(5);
        int CateOf(int item) => 1 + (item - 1) % cates;
        int ItemIn(int cate) => cate + cates * rng.Next((items - cate) / cates + 1);
        var si = d.Sessions["sess_item"];
        var sc = d.Sessions["sess_cate"];
        for (int r = 0; r < n; r++)
        {
            int user = 1 + rng.Next(users), favourite = 1 + rng.Next(cates);
            int count = r % EmptyEvery == 0 ? 0 : 1 + rng.Next(s);
            si.Counts[r] = sc.Counts[r] = count;
            for (int k = 0; k < count; k++)
            {
                int len = 1 + rng.Next(l);
                si.Lengths[r * s + k] = sc.Lengths[r * s + k] = len;
                for (int t = 0; t < len; t++)
                {
                    int item = rng.Next(2) == 0 ? ItemIn(favourite) : 1 + rng.Next(items);
                    si.Ids[(r * s + k) * l + t] = item;
                    sc.Ids[(r * s + k) * l + t] = CateOf(item);
                }
            }
            bool clicked = count > 0 && rng.Next(2) == 0;
            int cate = clicked ? favourite : 1 + rng.Next(cates);
            int target = ItemIn(cate);
            d.Sparse["user"][r] = user;
            d.Sparse["item"][r] = target;
            d.Sparse["cate"][r] = cate;
            d.UserIds[r] = user;
            d.Labels[r] = clicked ? 1f : 0f;
        }
        d.CheckIds();
        return d;
    }

    public static TheoryData<string> Variants => new()
    {
        "base", "din-sigmoid", "din-softmax", "din-none", "din-batchnorm-dice",
        "dien-gru_attention", "dien-aigru", "dien-agru", "dien-augru",
        "dsin-bilinear", "dsin-activation_unit",
    };

    /// <summary>
    /// Small models (embedding 4 per table, MLP [16, 8]) whose evaluation differs from training: the
    /// head has BatchNorm and dropout, the attention units Dice (or BatchNorm + Dice).
    /// </summary>
    private static ModelOptions Options(string variant)
    {
        int[] mlp = [16, 8], attention = [16, 8];
        const float std = 0.1f, dropout = 0.1f;
        return variant switch
        {
            "base" => new BaseModelOptions { MlpHidden = mlp, MlpBatchNorm = true, MlpDropout = dropout, EmbeddingInitStd = std, Seed = 3 },
            "din-sigmoid" => new DinOptions
            {
                Normalization = AttentionNormalization.Sigmoid, AttentionHidden = attention, AttentionActivation = Activation.Dice,
                MlpHidden = mlp, MlpBatchNorm = true, MlpDropout = dropout, EmbeddingInitStd = std, Seed = 3,
            },
            "din-softmax" => new DinOptions
            {
                Normalization = AttentionNormalization.Softmax, AttentionScale = true, AttentionHidden = attention, AttentionActivation = Activation.PRelu,
                MlpHidden = mlp, MlpBatchNorm = true, MlpActivation = Activation.Dice, MlpDropout = dropout, EmbeddingInitStd = std, Seed = 3,
            },
            "din-none" => new DinOptions
            {
                Normalization = AttentionNormalization.None, AttentionHidden = attention, AttentionActivation = Activation.Dice, AttentionDropout = dropout,
                MlpHidden = mlp, MlpBatchNorm = true, MlpDropout = dropout, EmbeddingInitStd = std, Seed = 3,
            },
            "din-batchnorm-dice" => new DinOptions
            {
                Normalization = AttentionNormalization.Sigmoid, AttentionHidden = attention, AttentionActivation = Activation.Dice, AttentionBatchNorm = true,
                MlpHidden = mlp, MlpBatchNorm = true, MlpActivation = Activation.Dice, MlpDropout = dropout, EmbeddingInitStd = std, Seed = 3,
            },
            _ when variant.StartsWith("dien-", StringComparison.Ordinal) => new DienOptions
            {
                Evolution = variant switch
                {
                    "dien-gru_attention" => EvolutionKind.GruAttention,
                    "dien-aigru" => EvolutionKind.Aigru,
                    "dien-agru" => EvolutionKind.Agru,
                    _ => EvolutionKind.Augru,
                },
                AuxLossWeight = 0.5f, AuxHidden = [8, 4], Normalization = AttentionNormalization.Softmax,
                AttentionHidden = attention, AttentionActivation = Activation.Dice,
                MlpHidden = mlp, MlpBatchNorm = true, MlpDropout = dropout, EmbeddingInitStd = std, Seed = 3,
            },
            "dsin-bilinear" => new DsinOptions
            {
                SessionActivation = SessionActivation.Bilinear, SessionHeads = 2, SessionFeedForward = 8,
                MlpHidden = mlp, MlpBatchNorm = true, MlpDropout = dropout, EmbeddingInitStd = std, Seed = 3,
            },
            "dsin-activation_unit" => new DsinOptions
            {
                SessionActivation = SessionActivation.ActivationUnit, SessionInteracting = false, SessionHeads = 2, SessionFeedForward = 8,
                AttentionHidden = attention, AttentionActivation = Activation.Dice,
                MlpHidden = mlp, MlpBatchNorm = true, MlpDropout = dropout, EmbeddingInitStd = std, Seed = 3,
            },
            _ => throw new ArgumentException(variant),
        };
    }

    /// <summary>
    /// The variant trained for one short epoch on its synthetic data (the model's flag is left in
    /// training mode, as the trainer leaves it); every BatchNorm/Dice running statistic has moved off its initial value.
    /// </summary>
    private static (CtrModel Model, CtrDataset Data) Trained(string variant)
    {
        var data = variant.StartsWith("dsin", StringComparison.Ordinal) ? Sessions.Value : Planted.Value;
        var model = CtrModel.Create(data.Schema, Options(variant));
        var train = data.Take(Enumerable.Range(0, 1_600).ToList());
        var valid = data.Take(Enumerable.Range(1_600, 400).ToList());
        new Trainer(new TrainOptions { Epochs = 1, BatchSize = 64, LearningRate = 3e-3f, Seed = 2 }).Fit(model, train, valid);
        var stats = model.NamedBuffers().ToList();
        Assert.NotEmpty(stats);
        foreach (var (name, t) in stats)
        {
            float init = name.EndsWith("running_var", StringComparison.Ordinal) ? 1f : 0f;
            Assert.True(t.ToArray().Any(v => v != init), $"{variant}: {name} is still at its initial value {init}");
        }
        return (model, data);
    }

    /// <summary>The fixed batch list: rows drawn with a fixed seed, the last batch only rows without history.</summary>
    private static int[][] BatchRows(CtrDataset data)
    {
        var rng = new Random(17);
        return Sizes.Select((size, i) => i == EmptyBatch
            ? Enumerable.Range(1, size).Select(k => k * EmptyEvery * 11 % data.Count / EmptyEvery * EmptyEvery).ToArray()
            : Enumerable.Range(0, size).Select(_ => rng.Next(data.Count)).ToArray()).ToArray();
    }

    /// <summary>Probabilities [B] and every attention tensor of one forward pass, copied out of the arena.</summary>
    private sealed record Scored(float[] Probabilities, IReadOnlyDictionary<string, (Shape Shape, float[] Values)> Attention);

    /// <summary>Scores <paramref name="rows"/> with the caller's own batch and input objects (the caller holds NoGrad and Evaluating).</summary>
    private static Scored Score(CtrModel model, CtrDataset data, int[] rows, Batch batch, ModelInput input)
    {
        batch.Fill(data, rows);
        using var arena = Arena.Begin();
        input.Load(data.Schema, batch);
        var r = model.Forward(input, ForwardOutputs.Attention);
        var probs = new float[rows.Length];
        TensorPrimitives.Sigmoid(r.Logits.Span, probs);
        return new(probs, r.Attention.ToDictionary(kv => kv.Key, kv => (kv.Value.Shape, kv.Value.ToArray())));
    }

    /// <summary>Index of the first element whose bits differ (or the shorter length), −1 when identical.</summary>
    private static int FirstDifference(float[] expected, float[] actual)
    {
        for (int i = 0; i < Math.Min(expected.Length, actual.Length); i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i])) return i;
        return expected.Length == actual.Length ? -1 : Math.Min(expected.Length, actual.Length);
    }

    private static string At(float[] e, float[] a, int i) =>
        $"element {i}: expected {(i < e.Length ? e[i].ToString("R") : "none")}, got {(i < a.Length ? a[i].ToString("R") : "none")} (lengths {e.Length}, {a.Length})";

    /// <summary>What differs between two scorings of one batch, bit for bit, or null.</summary>
    private static string? Difference(Scored expected, Scored actual)
    {
        int i = FirstDifference(expected.Probabilities, actual.Probabilities);
        if (i >= 0) return "probability " + At(expected.Probabilities, actual.Probabilities, i);
        if (!expected.Attention.Keys.Order().SequenceEqual(actual.Attention.Keys.Order()))
            return $"attention keys [{string.Join(", ", expected.Attention.Keys.Order())}] vs [{string.Join(", ", actual.Attention.Keys.Order())}]";
        foreach (var (name, (shape, values)) in expected.Attention)
        {
            var (ashape, avalues) = actual.Attention[name];
            if (shape != ashape) return $"attention '{name}' shape {shape} vs {ashape}";
            i = FirstDifference(values, avalues);
            if (i >= 0) return $"attention '{name}' " + At(values, avalues, i);
        }
        return null;
    }

    private static int[] Shuffled(int n, int seed)
    {
        var order = Enumerable.Range(0, n).ToArray();
        new Random(seed).Shuffle(order);
        return order;
    }

    /// <summary>What the concurrent calls found: results that differ from the sequential ones, exceptions, and how many calls ran.</summary>
    private sealed class Tally
    {
        public readonly ConcurrentQueue<string> Mismatches = new();
        public readonly ConcurrentQueue<Exception> Errors = new();
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        /// <summary>Runs one call; an exception is counted (and the thread goes on with its next call).</summary>
        public void Call(Action call)
        {
            try { call(); }
            catch (Exception e) { Errors.Enqueue(e); }
            finally { Interlocked.Increment(ref _calls); }
        }

        public void AssertClean(string what)
        {
            Assert.True(Mismatches.IsEmpty && Errors.IsEmpty,
                $"{what}: {Mismatches.Count} of {Calls} concurrent calls returned results that differ from the sequential ones, {Errors.Count} threw."
                + string.Concat(Mismatches.Take(5).Select(m => "\n  " + m)) + string.Concat(Errors.Take(3).Select(e => "\n  " + e)));
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/>(thread, round) on <paramref name="threads"/> threads that start every
    /// round together (a barrier), so their calls overlap.
    /// </summary>
    private static void RunTogether(int threads, int rounds, Tally tally, Action<int, int> body)
    {
        using var barrier = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(id => new Thread(() =>
        {
            for (int round = 0; round < rounds; round++)
            {
                barrier.SignalAndWait();
                try { body(id, round); }
                catch (Exception e) { tally.Errors.Enqueue(e); }
            }
        }) { IsBackground = true, Name = $"scorer-{id}" }).ToList();
        foreach (var w in workers) w.Start();
        // A guard against a deadlock hanging the suite, not a timing assertion.
        foreach (var w in workers) Assert.True(w.Join(TimeSpan.FromMinutes(5)), $"{w.Name} did not finish");
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void ManyThreadsScoreOneModelExactlyAsOneThreadDoes(string variant)
    {
        var (model, data) = Trained(variant);
        var rows = BatchRows(data);

        // Reference: every batch once, in order, on this thread.
        var reference = new Scored[rows.Length];
        using (Tape.NoGrad())
        using (Module.Evaluating())
        {
            var batch = new Batch();
            var input = new ModelInput();
            for (int i = 0; i < rows.Length; i++) reference[i] = Score(model, data, rows[i], batch, input);
        }
        var expectedKeys = variant switch
        {
            "base" => [],
            "dsin-bilinear" => new[] { "sessions.extractor", "sessions.interacting", "sessions.items" },
            "dsin-activation_unit" => ["sessions.extractor", "sessions.items"],
            _ => ["behaviour"],
        };
        Assert.All(reference, r => Assert.Equal(expectedKeys, r.Attention.Keys.Order()));
        Assert.All(reference, r => Assert.All(r.Probabilities, p => Assert.True(float.IsFinite(p))));

        // Concurrent: 8 threads, each with its own batch and input objects, every batch each round in
        // its own shuffled order, against the same reference.
        var tally = new Tally();
        var inputs = Enumerable.Range(0, Threads).Select(_ => (Batch: new Batch(), Input: new ModelInput())).ToArray();
        RunTogether(Threads, Rounds, tally, (id, round) =>
        {
            var (batch, input) = inputs[id];
            using var noGrad = Tape.NoGrad();
            using var evaluating = Module.Evaluating();
            foreach (int i in Shuffled(rows.Length, 1000 * id + round))
                tally.Call(() =>
                {
                    if (Difference(reference[i], Score(model, data, rows[i], batch, input)) is { } what)
                        tally.Mismatches.Enqueue($"thread {id}, round {round}, batch {i} ({rows[i].Length} rows): {what}");
                });
        });
        tally.AssertClean(variant);
        Assert.Equal(Threads * Rounds * rows.Length, tally.Calls);
        Assert.True(model.Training, "the model's own flag (left in training mode by the trainer) was changed");
    }

    /// <summary>Every float and id of an explanation, floats by their bits.</summary>
    private static string Fingerprint(Explanation x)
    {
        static string Bits(IEnumerable<float> v) => string.Join(",", v.Select(f => BitConverter.SingleToInt32Bits(f).ToString("x8")));
        var parts = new List<string> { Bits([x.Probability]) };
        foreach (var a in x.Attention) parts.Add($"{a.Group}/{a.History}: [{string.Join(",", a.Ids)}] {Bits(a.Weights)}");
        foreach (var s in x.Sessions)
            parts.Add($"{s.Group}/{s.Sessions}: [{string.Join("|", s.Ids.Select(i => string.Join(",", i)))}] {Bits(s.ExtractorWeights)} "
                + $"{(s.InteractingWeights is null ? "-" : Bits(s.InteractingWeights))} {string.Join("|", s.ItemWeights.Select(Bits))}");
        return string.Join("\n", parts);
    }

    private static IEnumerable<Module> Tree(Module m) => m.NamedChildren().SelectMany(c => Tree(c.Module)).Prepend(m);

    [Theory]
    [InlineData("din-batchnorm-dice", true)]
    [InlineData("din-batchnorm-dice", false)]
    [InlineData("dien-augru", true)]
    [InlineData("dsin-bilinear", true)]
    [InlineData("dsin-activation_unit", false)]
    public void PredictAndExplainOnManyThreadsGiveTheSequentialResultsAndLeaveTheModeAlone(string variant, bool training)
    {
        const int threads = 4, rounds = 2, batchSize = 256;
        var (model, data) = Trained(variant);
        var explained = Enumerable.Range(0, 40).Select(k => k * 59 % data.Count).ToArray();   // row 0 (and 413, 826…) have no history/sessions
        Assert.Contains(explained, r => r % EmptyEvery == 0);

        // Sequential results with the model's own flag in evaluation mode.
        model.Eval();
        var probs = Predictor.Predict(model, data, batchSize);
        var explanations = explained.Select(r => Fingerprint(Explainer.Explain(model, data, r))).ToArray();
        model.Train(training);
        Assert.Contains(explanations, e => e.Contains('/'));                    // attention or sessions were reported

        var tally = new Tally();
        RunTogether(threads, rounds, tally, (id, round) =>
        {
            void Predict() => tally.Call(() =>
            {
                var got = Predictor.Predict(model, data, batchSize);
                if (FirstDifference(probs, got) is var i and >= 0) tally.Mismatches.Enqueue($"thread {id}, round {round}: Predict " + At(probs, got, i));
            });
            void Explain()
            {
                foreach (int k in Shuffled(explained.Length, 100 * id + round))
                    tally.Call(() =>
                    {
                        if (Fingerprint(Explainer.Explain(model, data, explained[k])) != explanations[k])
                            tally.Mismatches.Enqueue($"thread {id}, round {round}: Explain(row {explained[k]}) differs");
                    });
            }
            // Half the threads explain first, half predict first, so the two overlap.
            if (id % 2 == 0) { Predict(); Explain(); } else { Explain(); Predict(); }
            if (model.Training != training) tally.Mismatches.Enqueue($"thread {id}, round {round}: sees Training = {model.Training} after its calls");
        });
        tally.AssertClean(variant);
        Assert.Equal(threads * rounds * (1 + explained.Length), tally.Calls);
        Assert.All(Tree(model), m => Assert.Equal(training, m.Training));
    }
}
