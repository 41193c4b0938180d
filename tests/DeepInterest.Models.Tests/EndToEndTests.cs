using DeepInterest.Data.Batches;
using DeepInterest.Data.Synthetic;
using DeepInterest.Engine;
using DeepInterest.Engine.Autograd;
using DeepInterest.Models.Networks;
using DeepInterest.Models.Training;

namespace DeepInterest.Models.Tests;

public class EndToEndTests
{
    private static readonly PlantedInterestOptions Small = new(Samples: 12_000, Users: 6_000, Items: 1_000, Categories: 40, MaxHistory: 20, EmbeddingDim: 8);

    private static (CtrDataset Train, CtrDataset Valid) Split(CtrDataset d)
    {
        int nTrain = d.Count * 5 / 6;
        return (d.Take(Enumerable.Range(0, nTrain).ToList()), d.Take(Enumerable.Range(nTrain, d.Count - nTrain).ToList()));
    }

    private static ModelOptions Opts(ModelKind kind) => new()
    {
        Kind = kind, MlpHidden = [32, 16], AttentionHidden = [16, 8], EmbeddingInitStd = 0.1f, Seed = 3,
    };

    [Fact]
    public void DinLearnsPlantedInterestsAndBeatsBaseModel()
    {
        var (train, valid) = Split(PlantedInterest.Generate(Small));
        var trainer = new Trainer(new TrainOptions { Epochs = 4, BatchSize = 128, LearningRate = 3e-3f, Patience = 4 });
        var din = CtrModel.Create(train.Schema, Opts(ModelKind.Din));
        var dinResult = trainer.Fit(din, train, valid);
        var baseModel = CtrModel.Create(train.Schema, Opts(ModelKind.Base));
        var baseResult = trainer.Fit(baseModel, train, valid);
        Assert.True(dinResult.BestValidation.Auc > 0.85, $"DIN validation AUC {dinResult.BestValidation.Auc:F4}");
        Assert.True(dinResult.BestValidation.Auc > baseResult.BestValidation.Auc + 0.02,
            $"DIN {dinResult.BestValidation.Auc:F4} vs BaseModel {baseResult.BestValidation.Auc:F4}");
        // The best epoch's weights are the ones left in the model.
        Assert.Equal(dinResult.BestValidation.Auc, Predictor.Evaluate(din, valid).Auc, 12);
    }

    [Fact]
    public void SameSeedGivesIdenticalWeightsAndMetrics()
    {
        var (train, valid) = Split(PlantedInterest.Generate(Small with { Samples = 3_000 }));
        var trainer = new Trainer(new TrainOptions { Epochs = 2, BatchSize = 64 });
        var a = CtrModel.Create(train.Schema, Opts(ModelKind.Din));
        var b = CtrModel.Create(train.Schema, Opts(ModelKind.Din));
        var ra = trainer.Fit(a, train, valid);
        var rb = trainer.Fit(b, train, valid);
        Assert.Equal(ra.BestValidation, rb.BestValidation);
        foreach (var ((ka, ta), (kb, tb)) in a.StateDict().Zip(b.StateDict()))
            Assert.Equal(ta.ToArray(), tb.ToArray());
    }

    [Fact]
    public void PaddedPositionsDoNotChangeDinOutputs()
    {
        var data = PlantedInterest.Generate(Small with { Samples = 64 });
        var model = CtrModel.Create(data.Schema, Opts(ModelKind.Din));
        float[] Run(CtrDataset d)
        {
            model.Train();   // batch statistics too must ignore padding
            var batch = new Batch();
            batch.Fill(d, Enumerable.Range(0, d.Count).ToArray());
            var x = new ModelInput();
            using var _ = Tape.NoGrad();
            using var arena = Arena.Begin();
            x.Load(d.Schema, batch);
            return model.Forward(x).ToArray();
        }
        var before = Run(data);
        foreach (var name in new[] { "hist_item", "hist_cate" })
        {
            var col = data.Sequences[name];
            for (int r = 0; r < data.Count; r++)
                for (int t = col.Lengths[r]; t < col.MaxLength; t++) col.Ids[r * col.MaxLength + t] = 1 + (r + t) % 30;
        }
        Assert.Equal(before, Run(data));
    }
}
