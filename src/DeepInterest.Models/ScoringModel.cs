using DeepInterest.Data.Batches;
using DeepInterest.Data.Protocols;
using DeepInterest.Data.Storage;
using DeepInterest.Models.Metrics;
using DeepInterest.Models.Networks;
using DeepInterest.Models.Training;

namespace DeepInterest.Models;

/// <summary>
/// A saved model folder opened for scoring: the model (in evaluation mode) and what encodes raw
/// rows for it (the encoders saved beside it, when its data came from CSV). Every method may be
/// called from many threads at once: scoring keeps nothing on the model.
/// </summary>
/// <example>
/// <code>
/// var scorer = ScoringModel.Open("runs/din/model");
/// var rows = scorer.Read("test.csv");              // raw CSV rows, or a split written by `prepare`
/// float[] p = scorer.Predict(rows);                // click probabilities, in row order
/// </code>
/// </example>
public sealed class ScoringModel
{
    /// <summary>The file beside the model that holds the fitted encoders of CSV-trained models.</summary>
    public const string EncodersFile = "encoders.json";

    private ScoringModel(string directory, CtrModel model, MovieLensSeed.Encoders? encoders)
    {
        Directory = directory; Model = model; Encoders = encoders;
    }

    /// <summary>The model folder.</summary>
    public string Directory { get; }

    /// <summary>The loaded model (evaluation mode).</summary>
    public CtrModel Model { get; }

    /// <summary>The encoders the model's CSV data was encoded with, or null (the model was trained on a prepared or synthetic dataset).</summary>
    public MovieLensSeed.Encoders? Encoders { get; }

    /// <summary>Loads <paramref name="directory"/> (see <see cref="ModelStore.Load"/>) and its encoders when present; errors are one line.</summary>
    public static ScoringModel Open(string directory)
    {
        var model = ModelStore.Load(directory);
        var path = Path.Combine(directory, EncodersFile);
        var encoders = File.Exists(path) ? MovieLensSeed.Encoders.FromJson(File.ReadAllText(path), path) : null;
        return new ScoringModel(directory, model, encoders);
    }

    /// <summary>
    /// The rows to score: a prepared split (<c>.safetensors</c> from <c>prepare</c>, whose features
    /// must be the model's) or raw CSV rows encoded with the model's encoders (unseen values map to the unknown id).
    /// </summary>
    public CtrDataset Read(string path)
    {
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            var data = DatasetCache.Load(path);
            if (data.Schema.ToJson() != Model.Schema.ToJson())
                throw new ModelFormatException($"{path}: its features differ from the model's in {Directory} (prepare the data with the model's config)");
            return data;
        }
        if (Encoders is null)
            throw new ModelFormatException($"{Directory}: {EncodersFile} is missing; scoring raw rows needs a model trained on CSV data (data.protocol: movielens_seed)");
        return MovieLensSeed.Encode(path, Encoders, Model.Schema);
    }

    /// <summary>Click probabilities of every row, in order.</summary>
    public float[] Predict(CtrDataset data, int batchSize = 2048) => Predictor.Predict(Model, data, batchSize);

    /// <summary>AUC, GAUC and logloss on labelled rows.</summary>
    public EvalMetrics Evaluate(CtrDataset data, int batchSize = 2048) => Predictor.Evaluate(Model, data, batchSize);

    /// <summary>One row's probability with the attention weights behind it.</summary>
    public Explanation Explain(CtrDataset data, int row) => Explainer.Explain(Model, data, row);
}
