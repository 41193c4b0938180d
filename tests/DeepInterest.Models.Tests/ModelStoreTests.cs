using DeepInterest.Data.Synthetic;
using DeepInterest.Models;
using DeepInterest.Models.Networks;
using DeepInterest.Models.Training;

namespace DeepInterest.Models.Tests;

public class ModelStoreTests
{
    private static readonly PlantedInterestOptions Small = new(Samples: 600, Users: 300, Items: 100, Categories: 10, MaxHistory: 8, EmbeddingDim: 4, NegativeHistory: true);

    [Theory]
    [InlineData("base")]
    [InlineData("din")]
    [InlineData("dien")]
    public void SaveThenLoadGivesBitIdenticalPredictions(string kind)
    {
        var data = PlantedInterest.Generate(Small);
        ModelOptions options = kind switch
        {
            "base" => new BaseModelOptions { MlpHidden = [8], MlpBatchNorm = true, Seed = 4 },
            "din" => new DinOptions { MlpHidden = [8], AttentionHidden = [6], MlpBatchNorm = true, Seed = 4 },
            _ => new DienOptions { MlpHidden = [8], AttentionHidden = [6], AuxHidden = [4], MlpBatchNorm = true, Seed = 4 },
        };
        var model = CtrModel.Create(data.Schema, options);
        new Trainer(new TrainOptions { Epochs = 1, BatchSize = 64 }).Fit(model, data, data);
        var dir = Path.Combine(Path.GetTempPath(), "di-store-" + Guid.NewGuid().ToString("N"));
        try
        {
            ModelStore.Save(dir, model, new Dictionary<string, double> { ["val.auc"] = 0.5 });
            var loaded = ModelStore.Load(dir);
            Assert.Equal(Predictor.Predict(model, data), Predictor.Predict(loaded, data));
            Assert.Equal(model.StateDict().Select(kv => kv.Key), loaded.StateDict().Select(kv => kv.Key));
            Assert.Equal(kind, loaded.Kind);
            Assert.Equal(options.GetType(), loaded.Options.GetType());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void DamagedFoldersGiveOneLineErrors()
    {
        var data = PlantedInterest.Generate(Small);
        var model = CtrModel.Create(data.Schema, new DinOptions { MlpHidden = [8], AttentionHidden = [6] });
        var dir = Path.Combine(Path.GetTempPath(), "di-bad-" + Guid.NewGuid().ToString("N"));
        try
        {
            Assert.Contains("model folder not found", Assert.Throws<ModelFormatException>(() => ModelStore.Load(dir)).Message);
            ModelStore.Save(dir, model);
            var weights = Path.Combine(dir, "weights.safetensors");
            var bytes = File.ReadAllBytes(weights);
            File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]);
            var e = Assert.Throws<Engine.IO.SafeTensorsException>(() => ModelStore.Load(dir));
            Assert.DoesNotContain('\n', e.Message);
            ModelStore.Save(dir, model);
            File.WriteAllText(Path.Combine(dir, "manifest.json"), "{ \"format_version\": 9 }");
            Assert.Contains("format_version 9 is not supported", Assert.Throws<ModelFormatException>(() => ModelStore.Load(dir)).Message);
            File.WriteAllText(Path.Combine(dir, "manifest.json"), "{ nope");
            Assert.Contains("not valid JSON", Assert.Throws<ModelFormatException>(() => ModelStore.Load(dir)).Message);
            File.Delete(weights);
            Assert.Contains("weights.safetensors is missing", Assert.Throws<ModelFormatException>(() => ModelStore.Load(dir)).Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}

public class RegularizationTests
{
    [Fact]
    public void MbaPenalizesOnlyTheBatchRowsScaledByInverseFrequency()
    {
        var data = PlantedInterest.Generate(new PlantedInterestOptions(Samples: 200, Users: 100, Items: 60, Categories: 6, InterestsPerUser: 2, MaxHistory: 6, EmbeddingDim: 3));
        var opts = new DinOptions { MlpHidden = [4], AttentionHidden = [4], Regularization = Regularization.Mba, RegularizationWeight = 0.5f, Seed = 3 };
        var model = CtrModel.Create(data.Schema, opts);
        model.Embeddings.FitFrequencies(data);
        var batch = new DeepInterest.Data.Batches.Batch();
        batch.Fill(data, [0, 1, 2]);
        var x = new ModelInput();
        x.Load(data.Schema, batch);
        var penalty = model.Embeddings.BatchPenalty(x, 0.5f, mba: true)!;
        // Recompute by hand for the item table: rows used by targets and real history positions.
        var item = model.NamedParameters().First(p => p.Name == "embeddings.item.weight").Parameter;
        var cate = model.NamedParameters().First(p => p.Name == "embeddings.cate.weight").Parameter;
        var user = model.NamedParameters().First(p => p.Name == "embeddings.user.weight").Parameter;
        double expected = 0;
        foreach (var (table, sparse, seq) in new[] { (item, "item", "hist_item"), (cate, "cate", "hist_cate"), (user, "user", (string?)null) })
        {
            var counts = new Dictionary<int, int>();
            void Count(int id) { if (id != 0) counts[id] = counts.GetValueOrDefault(id) + 1; }
            for (int r = 0; r < data.Count; r++) { Count(data.Sparse[sparse][r]); if (seq is not null) foreach (var id in data.Sequences[seq].Row(r)) Count(id); }
            var rows = new HashSet<int>();
            foreach (var r in new[] { 0, 1, 2 }) { rows.Add(data.Sparse[sparse][r]); if (seq is not null) foreach (var id in data.Sequences[seq].Row(r)) rows.Add(id); }
            foreach (var j in rows) { double sq = 0; for (int k = 0; k < 3; k++) sq += Math.Pow(table.Span[j * 3 + k], 2); expected += 0.5 * 0.5 * sq / counts[j]; }
        }
        Assert.Equal(expected, penalty.Item(), 4);
        // Training with it runs and learns.
        var r2 = new Trainer(new TrainOptions { Epochs = 1, BatchSize = 32 }).Fit(CtrModel.Create(data.Schema, opts), data, data);
        Assert.True(double.IsFinite(r2.History[0].TrainLoss));
    }
}
