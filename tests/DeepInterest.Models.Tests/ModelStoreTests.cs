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

public class ModelRegistryTests
{
    private static readonly PlantedInterestOptions Small = new(Samples: 300, Users: 150, Items: 60, Categories: 8, MaxHistory: 6, EmbeddingDim: 4, NegativeHistory: true);

    [Fact]
    public void EveryKindIsRegisteredOnceWithItsOwnOptionsRecord()
    {
        var kinds = ModelRegistry.Kinds;
        Assert.Equal(["base", "wide_deep", "pnn", "deepfm", "din", "dien", "dsin"], kinds.Select(k => k.Name));
        Assert.Equal(kinds.Count, kinds.Select(k => k.OptionsType).Distinct().Count());
        foreach (var k in kinds)
        {
            var o = k.DefaultOptions();
            Assert.Equal(k.Name, o.Kind);
            Assert.Same(k, ModelRegistry.For(o));
        }
    }

    [Fact]
    public void AnUnknownKindIsRefusedNotBuiltAsDin()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelRegistry.Get("dinn"));
        Assert.Contains("unknown model kind 'dinn'", e.Message);
        Assert.Contains("base, wide_deep, pnn, deepfm, din, dien, dsin", e.Message);
        Assert.Null(ModelRegistry.Find("bst"));
    }

    [Theory]
    [InlineData("wide_deep")]
    [InlineData("pnn")]
    [InlineData("deepfm")]
    public void BaselinesTrainSaveAndLoadBitIdentically(string kind)
    {
        var data = PlantedInterest.Generate(Small);
        var model = CtrModel.Create(data.Schema, ModelRegistry.Get(kind).DefaultOptions() with { MlpHidden = [8], Seed = 2 });
        var before = Predictor.Predict(model, data);
        new Trainer(new TrainOptions { Epochs = 1, BatchSize = 64, LearningRate = 1e-2f }).Fit(model, data, data);
        Assert.NotEqual(before, Predictor.Predict(model, data));
        var dir = Path.Combine(Path.GetTempPath(), "di-kind-" + Guid.NewGuid().ToString("N"));
        try
        {
            ModelStore.Save(dir, model);
            var loaded = ModelStore.Load(dir);
            Assert.Equal(kind, loaded.Kind);
            Assert.Equal(Predictor.Predict(model, data), Predictor.Predict(loaded, data));
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>Folders written before each kind had its own options record (format 1: one flat record of every kind's fields) still load.</summary>
    [Fact]
    public void FormatOneFoldersLoadWithTheirKindsOptions()
    {
        var data = PlantedInterest.Generate(Small);
        var model = CtrModel.Create(data.Schema, new DinOptions { MlpHidden = [8], AttentionHidden = [6], Normalization = AttentionNormalization.Softmax, Seed = 4 });
        var dir = Path.Combine(Path.GetTempPath(), "di-v1-" + Guid.NewGuid().ToString("N"));
        try
        {
            ModelStore.Save(dir, model);
            var path = Path.Combine(dir, "manifest.json");
            var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!;
            root["format_version"] = 1;
            // As an earlier build wrote it: the kind inside the options and every other kind's fields beside DIN's.
            root["options"] = System.Text.Json.Nodes.JsonNode.Parse("""
                { "kind": "din", "mlp_hidden": [8], "mlp_activation": "p_relu", "mlp_batch_norm": false, "mlp_dropout": 0,
                  "attention_hidden": [6], "attention_activation": "dice", "attention_dropout": 0, "attention_batch_norm": false,
                  "normalization": "softmax", "embedding_init_std": 0.01, "seed": 4, "regularization": "none", "regularization_weight": 0.01,
                  "evolution": "augru", "aux_loss_weight": 1, "aux_hidden": [100, 50], "sequence_pooling": "sum", "attention_scale": false,
                  "session_heads": 2, "session_feed_forward": 0, "session_encoding": "bias", "session_interacting": true, "session_activation": "bilinear" }
                """);
            File.WriteAllText(path, root.ToJsonString());
            var loaded = ModelStore.Load(dir);
            var o = Assert.IsType<DinOptions>(loaded.Options);
            Assert.Equal(AttentionNormalization.Softmax, o.Normalization);
            Assert.Equal([6], o.AttentionHidden);
            Assert.Equal(Predictor.Predict(model, data), Predictor.Predict(loaded, data));

            // Format 2 is strict: an option the kind does not have, or a kind this build does not know, is a one-line error.
            root["format_version"] = 2;
            File.WriteAllText(path, root.ToJsonString());
            var e = Assert.Throws<ModelFormatException>(() => ModelStore.Load(dir));
            Assert.Contains("manifest.json", e.Message);
            Assert.DoesNotContain('\n', e.Message);
            ModelStore.Save(dir, model);
            root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!;
            root["kind"] = "bst";
            File.WriteAllText(path, root.ToJsonString());
            Assert.Contains("model kind 'bst' is not known to this build", Assert.Throws<ModelFormatException>(() => ModelStore.Load(dir)).Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void PnnAndDeepFmRefuseFieldsOfDifferentWidths()
    {
        var schema = PlantedInterest.Schema(Small) with { Tables = [.. PlantedInterest.Schema(Small).Tables.Select((t, i) => i == 0 ? t with { Dim = 6 } : t)] };
        foreach (var o in new ModelOptions[] { new PnnOptions(), new DeepFmOptions() })
            Assert.Contains("needs the same width", Assert.Throws<DeepInterest.Data.Schema.SchemaException>(() => CtrModel.Create(schema, o)).Message);
    }
}
