using DeepInterest.Data.Batches;
using DeepInterest.Data.Storage;
using DeepInterest.Data.Synthetic;
using DeepInterest.Models.Networks;
using DeepInterest.Models.Training;

namespace DeepInterest.Models.Tests;

/// <summary>Checkpoints, resume, divergence and training from a streamed cache.</summary>
public sealed class CheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("di-ckpt").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly PlantedInterestOptions Data = new(Samples: 7_000, Users: 3_500, Items: 1_000, Categories: 40, MaxHistory: 20, EmbeddingDim: 8);

    private static (CtrDataset Train, CtrDataset Valid) Split()
    {
        var d = PlantedInterest.Generate(Data);
        return (d.Take(Enumerable.Range(0, 6_000).ToList()), d.Take(Enumerable.Range(6_000, 1_000).ToList()));
    }

    // Dropout in both MLPs, so resuming must also restore the dropout generators.
    private static CtrModel Model(CtrDataset train, float dropout = 0.2f) => CtrModel.Create(train.Schema, new DinOptions
    {
        MlpHidden = [16, 8], AttentionHidden = [8], MlpDropout = dropout, AttentionDropout = dropout / 2, EmbeddingInitStd = 0.1f, Seed = 3,
    });

    private static TrainOptions Opts(int epochs) => new() { Epochs = epochs, BatchSize = 128, Patience = 10, LearningRate = 3e-3f };

    private static Dictionary<string, float[]> Weights(CtrModel m) => m.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());

    [Fact]
    public void TwoPlusTwoEpochsEqualFourBitForBit()
    {
        var (train, valid) = Split();
        var straight = Model(train);
        var full = new Trainer(Opts(4)).Fit(straight, train, valid, checkpointDir: Path.Combine(_dir, "a"));

        var resumed = Model(train);
        var ckpt = Path.Combine(_dir, "b");
        new Trainer(Opts(2)).Fit(resumed, train, valid, checkpointDir: ckpt);
        var fresh = Model(train);                                                  // a new process would start from scratch
        var rest = new Trainer(Opts(4)).Fit(fresh, train, valid, checkpointDir: ckpt, resume: true);

        Assert.Equal(full.History.Select(h => h.Validation), rest.History.Select(h => h.Validation));
        Assert.Equal(full.History.Select(h => h.TrainLoss), rest.History.Select(h => h.TrainLoss));
        Assert.Equal(full.BestEpoch, rest.BestEpoch);
        var a = Weights(straight); var b = Weights(fresh);
        foreach (var (k, v) in a) Assert.Equal(v, b[k]);
        // The last-epoch checkpoints of the two runs are identical too.
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "a", Checkpoint.LastFile)), File.ReadAllBytes(Path.Combine(ckpt, Checkpoint.LastFile)));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "a", Checkpoint.OptimizerFile)), File.ReadAllBytes(Path.Combine(ckpt, Checkpoint.OptimizerFile)));
    }

    [Fact]
    public void TheBestEpochIsTheOneReloadedNotTheLast()
    {
        var (train, valid) = Split();
        var model = Model(train);
        var ckpt = Path.Combine(_dir, "c");
        // A high learning rate makes later epochs worse on validation, so best ≠ last.
        var result = new Trainer(Opts(5) with { LearningRate = 0.05f }).Fit(model, train, valid, checkpointDir: ckpt);
        Assert.True(result.BestEpoch < result.History.Count, $"best epoch {result.BestEpoch} of {result.History.Count}: the test needs a worse last epoch");
        var best = Checkpoint.LoadBest(ckpt, model);
        foreach (var (k, v) in model.StateDict()) Assert.Equal(best[k], v.ToArray());
        Assert.Equal(result.BestValidation.Auc, Predictor.Evaluate(model, valid).Auc, 12);
        var last = Engine.IO.SafeTensors.Load(Path.Combine(ckpt, Checkpoint.LastFile));
        Assert.Contains(model.StateDict(), kv => !kv.Value.ToArray().SequenceEqual(last[kv.Key].ToArray()));
    }

    [Fact]
    public void ResumingWithOtherOptionsOrADamagedFolderIsAOneLineError()
    {
        var (train, valid) = Split();
        var ckpt = Path.Combine(_dir, "d");
        new Trainer(Opts(1)).Fit(Model(train), train, valid, checkpointDir: ckpt);
        var e = Assert.Throws<CheckpointException>(() => new Trainer(Opts(2) with { LearningRate = 1e-2f }).Fit(Model(train), train, valid, checkpointDir: ckpt, resume: true));
        Assert.Contains("other model options, features or training options", e.Message);
        var other = CtrModel.Create(train.Schema, Model(train).Options with { MlpHidden = [12] });
        Assert.Throws<CheckpointException>(() => new Trainer(Opts(2)).Fit(other, train, valid, checkpointDir: ckpt, resume: true));
        File.WriteAllText(Path.Combine(ckpt, Checkpoint.StateFile), "{ not json");
        e = Assert.Throws<CheckpointException>(() => new Trainer(Opts(2)).Fit(Model(train), train, valid, checkpointDir: ckpt, resume: true));
        Assert.StartsWith(Path.Combine(ckpt, Checkpoint.StateFile) + ": damaged", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        e = Assert.Throws<CheckpointException>(() => new Trainer(Opts(2)).Fit(Model(train), train, valid, checkpointDir: Path.Combine(_dir, "none"), resume: true));
        Assert.Contains("not a checkpoint folder", e.Message);
    }

    [Fact]
    public void DivergenceStopsWithAClearMessageAndKeepsTheLastGoodCheckpoint()
    {
        var (train, valid) = Split();
        var ckpt = Path.Combine(_dir, "e");
        var model = Model(train);
        new Trainer(Opts(1)).Fit(model, train, valid, checkpointDir: ckpt);
        var before = Directory.GetFiles(ckpt).ToDictionary(f => f, File.ReadAllBytes);
        // Poison a weight: the next forward pass yields NaN.
        model.NamedParameters().First(p => p.Name == "out.weight").Parameter.Span[0] = float.NaN;
        var e = Assert.Throws<TrainingDivergedException>(() => new Trainer(Opts(1)).Fit(model, train, valid, checkpointDir: Path.Combine(_dir, "f")));
        Assert.Contains("loss is NaN at epoch 1, step 1", e.Message);
        // Resuming the good run after a crash mid-epoch: nothing in its folder changed.
        foreach (var (f, bytes) in before) Assert.Equal(bytes, File.ReadAllBytes(f));
    }

    [Fact]
    public void TrainingFromAStreamedCacheMatchesItsChunkedShuffle()
    {
        var d = PlantedInterest.Generate(Data with { Samples = 12_000, Users = 6_000 });
        var (train, valid) = (d.Take(Enumerable.Range(0, 10_000).ToList()), d.Take(Enumerable.Range(10_000, 2_000).ToList()));
        var path = Path.Combine(_dir, "train.safetensors");
        DatasetCache.Save(train, path);
        using var s1 = new StreamingBatches(path, chunkRows: 1_500, batchSize: 128, shuffle: true, seed: 1);
        using var s2 = new StreamingBatches(path, chunkRows: 1_500, batchSize: 128, shuffle: true, seed: 1);
        var m1 = Model(train, 0); var m2 = Model(train, 0);
        var r1 = new Trainer(Opts(4)).Fit(m1, s1, valid);
        var r2 = new Trainer(Opts(4)).Fit(m2, s2, valid);
        Assert.Equal(r1.History.Select(h => h.Validation), r2.History.Select(h => h.Validation));
        // It learns as well as training from memory (only the shuffle differs).
        var inMemory = new Trainer(Opts(4)).Fit(Model(train, 0), train, valid);
        Assert.True(r1.BestValidation.Auc > 0.6, $"AUC {r1.BestValidation.Auc:F4} from streamed training, {inMemory.BestValidation.Auc:F4} from memory");
        Assert.InRange(r1.BestValidation.Auc - inMemory.BestValidation.Auc, -0.05, 0.05);
    }
}
