using DeepInterest.Data.Synthetic;
using DeepInterest.Models;
using DeepInterest.Models.Networks;
using DeepInterest.Models.Training;

namespace DeepInterest.Models.Tests;

public class ModelStoreTests
{
    private static readonly PlantedInterestOptions Small = new(Samples: 600, Users: 300, Items: 100, Categories: 10, MaxHistory: 8, EmbeddingDim: 4, NegativeHistory: true);

    [Theory]
    [InlineData(ModelKind.Base)]
    [InlineData(ModelKind.Din)]
    [InlineData(ModelKind.Dien)]
    public void SaveThenLoadGivesBitIdenticalPredictions(ModelKind kind)
    {
        var data = PlantedInterest.Generate(Small);
        var model = CtrModel.Create(data.Schema, new ModelOptions { Kind = kind, MlpHidden = [8], AttentionHidden = [6], AuxHidden = [4], MlpBatchNorm = true, Seed = 4 });
        new Trainer(new TrainOptions { Epochs = 1, BatchSize = 64 }).Fit(model, data, data);
        var dir = Path.Combine(Path.GetTempPath(), "di-store-" + Guid.NewGuid().ToString("N"));
        try
        {
            ModelStore.Save(dir, model, new Dictionary<string, double> { ["val.auc"] = 0.5 });
            var loaded = ModelStore.Load(dir);
            Assert.Equal(Predictor.Predict(model, data), Predictor.Predict(loaded, data));
            Assert.Equal(model.StateDict().Select(kv => kv.Key), loaded.StateDict().Select(kv => kv.Key));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void DamagedFoldersGiveOneLineErrors()
    {
        var data = PlantedInterest.Generate(Small);
        var model = CtrModel.Create(data.Schema, new ModelOptions { Kind = ModelKind.Din, MlpHidden = [8], AttentionHidden = [6] });
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
