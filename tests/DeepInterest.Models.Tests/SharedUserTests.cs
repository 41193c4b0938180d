using DeepInterest.Data.Batches;
using DeepInterest.Data.Protocols;
using DeepInterest.Engine;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Modules;
using DeepInterest.Models.Networks;

namespace DeepInterest.Models.Tests;

/// <summary>
/// A ranking request scores one user against many candidates: with <see cref="ModelInput.SharedUser"/>
/// the models compute the user's side once (DIEN's extractor, DSIN's sessions) and must give exactly
/// what scoring each (user, candidate) row alone gives.
/// </summary>
public class SharedUserTests
{
    private static readonly DinProtocol.Result Data = Build();

    /// <summary>DIN-protocol samples with negative histories and up to 3 sessions, from random timed logs.</summary>
    private static DinProtocol.Result Build()
    {
        var rng = new Random(7);
        int users = 60, items = 200, cats = 12;
        var cat = new int[items + 1];
        for (int i = 1; i <= items; i++) cat[i] = 1 + rng.Next(cats);
        var seqs = new List<int[]?> { null };
        var times = new List<long[]?> { null };
        for (int u = 1; u <= users; u++)
        {
            int n = 3 + rng.Next(25);
            seqs.Add(Enumerable.Range(0, n).Select(_ => 1 + rng.Next(items)).ToArray());
            long t = 1_000_000;
            times.Add(Enumerable.Range(0, n).Select(_ => t += rng.Next(3) == 0 ? 4000 : 60).ToArray());
        }
        return DinProtocol.Build(seqs, cat, new DinProtocolOptions(MaxHistory: 12, EmbeddingDim: 4, NegativeHistory: true, MaxSessions: 3, SessionLength: 4), times);
    }

    public static TheoryData<string> Variants() =>
    [
        "base", "wide_deep", "pnn", "deepfm", "din", "din-softmax", "dien-augru", "dien-agru", "dien-aigru", "dien-gru_attention", "dsin", "dsin-unit",
        "din-paper-sizes", "dien-paper-sizes",
    ];

    private static ModelOptions Options(string variant) => variant switch
    {
        // The DIN paper's layer sizes, so the batch takes the packed GEMM kernels and a lone row the small-product path.
        "din-paper-sizes" => new DinOptions { MlpHidden = [200, 80], AttentionHidden = [80, 40], MlpBatchNorm = true, Seed = 3, EmbeddingInitStd = 0.3f },
        "dien-paper-sizes" => new DienOptions { MlpHidden = [200, 80], AttentionHidden = [80, 40], AuxHidden = [100, 50], Normalization = AttentionNormalization.Softmax, Seed = 3, EmbeddingInitStd = 0.3f },
        "din" => new DinOptions { MlpHidden = [8], AttentionHidden = [6], AttentionActivation = Activation.Dice, Seed = 3, EmbeddingInitStd = 0.3f },
        "din-softmax" => new DinOptions { MlpHidden = [8], AttentionHidden = [6], Normalization = AttentionNormalization.Softmax, AttentionBatchNorm = true, Seed = 3, EmbeddingInitStd = 0.3f },
        "dsin" => new DsinOptions { MlpHidden = [8], SessionHeads = 2, Seed = 3, EmbeddingInitStd = 0.3f },
        "dsin-unit" => new DsinOptions { MlpHidden = [8], AttentionHidden = [6], SessionActivation = SessionActivation.ActivationUnit, SessionInteracting = false, Seed = 3, EmbeddingInitStd = 0.3f },
        _ when variant.StartsWith("dien-") => new DienOptions
        {
            MlpHidden = [8], AttentionHidden = [6], AuxHidden = [4], Seed = 3, EmbeddingInitStd = 0.3f,
            Evolution = Enum.Parse<EvolutionKind>(variant[5..].Replace("_", ""), ignoreCase: true),
        },
        _ => ModelRegistry.Get(variant).DefaultOptions() with { MlpHidden = [8], Seed = 3, EmbeddingInitStd = 0.3f },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void OneUserManyCandidatesScoresAsEachRowAlone(string variant)
    {
        var model = CtrModel.Create(Data.Test.Schema, Options(variant));
        var rng = new Random(11);
        foreach (int user in new[] { 0, 5, 17 })                                            // test rows of three users
        {
            int n = 37;
            var rows = Data.Test.Take(Enumerable.Repeat(2 * user, n).ToList());
            for (int i = 0; i < n; i++)
            {
                int item = 1 + rng.Next(200);
                rows.Sparse["item"][i] = item;
                rows.Sparse["cate"][i] = Data.Train.Sparse["cate"][Array.IndexOf(Data.Train.Sparse["item"], item) is var j and >= 0 ? j : 0];
            }
            var (together, togetherAttention) = Score(model, rows, Enumerable.Range(0, n).ToArray(), shared: true);
            for (int i = 0; i < n; i++)
            {
                var (alone, aloneAttention) = Score(model, rows, [i], shared: false);
                Assert.Equal(alone[0], together[i]);
                foreach (var (name, w) in aloneAttention)
                    Assert.Equal(w, togetherAttention[name].AsSpan(i * w.Length, w.Length).ToArray());
            }
        }
    }

    private static (float[] Logits, Dictionary<string, float[]> Attention) Score(CtrModel model, CtrDataset data, int[] rows, bool shared)
    {
        var batch = new Batch();
        batch.Fill(data, rows);
        var input = new ModelInput();
        using var _ = Tape.NoGrad();
        using var __ = Module.Evaluating();
        using var ___ = Arena.Begin();
        input.Load(data.Schema, batch);
        input.SharedUser = shared;
        var r = model.Forward(input, ForwardOutputs.Attention);
        return (r.Logits.ToArray(), r.Attention.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray()));
    }
}
