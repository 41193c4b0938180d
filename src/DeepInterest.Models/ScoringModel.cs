using DeepInterest.Data.Batches;
using DeepInterest.Data.Protocols;
using DeepInterest.Data.Serving;
using DeepInterest.Data.Storage;
using DeepInterest.Models.Metrics;
using DeepInterest.Models.Networks;
using DeepInterest.Models.Training;

namespace DeepInterest.Models;

/// <summary>
/// A saved model folder opened for scoring: the model (in evaluation mode) and what encodes raw
/// rows for it — the serving spec saved beside it (<see cref="ServingSpec.FileName"/>, written for
/// every protocol but synthetic), or for folders written before specs existed the seed protocol's
/// encoders. Every method may be called from many threads at once: scoring keeps nothing on the model.
/// Requests of raw values (one user, many candidates) go through <see cref="Serving.Ranker"/>.
/// </summary>
/// <example>
/// <code>
/// var scorer = ScoringModel.Open("runs/din/model");
/// var rows = scorer.Read("log.csv");               // a raw file in the model's layout, or a split written by `prepare`
/// float[] p = scorer.Predict(rows);                // click probabilities, in row order
/// </code>
/// </example>
public sealed class ScoringModel
{
    /// <summary>The file beside the model that holds the fitted encoders of CSV-trained models.</summary>
    public const string EncodersFile = "encoders.json";

    private ScoringModel(string directory, CtrModel model, MovieLensSeed.Encoders? encoders, ServingSpec? spec)
    {
        Directory = directory; Model = model; Encoders = encoders; Spec = spec;
    }

    /// <summary>The model folder.</summary>
    public string Directory { get; }

    /// <summary>The loaded model (evaluation mode).</summary>
    public CtrModel Model { get; }

    /// <summary>The encoders the model's CSV data was encoded with, or null (the model was trained on a prepared or synthetic dataset).</summary>
    public MovieLensSeed.Encoders? Encoders { get; }

    /// <summary>What turns raw requests and files into the model's rows, or null (a synthetic-data model, or a folder written before serving specs).</summary>
    public ServingSpec? Spec { get; }

    /// <summary>Loads <paramref name="directory"/> (see <see cref="ModelStore.Load"/>) with its serving spec and encoders when present; errors are one line.</summary>
    public static ScoringModel Open(string directory)
    {
        var model = ModelStore.Load(directory);
        var path = Path.Combine(directory, EncodersFile);
        var encoders = File.Exists(path) ? MovieLensSeed.Encoders.FromJson(File.ReadAllText(path), path) : null;
        var specPath = Path.Combine(directory, ServingSpec.FileName);
        var spec = File.Exists(specPath) ? ServingSpec.Load(specPath) : null;
        return new ScoringModel(directory, model, encoders, spec);
    }

    /// <summary>
    /// The rows to score: a prepared split (<c>.safetensors</c> from <c>prepare</c>, whose features
    /// must be the model's) or a raw file in the model's layout (<see cref="ServingSpec.ReadFile"/>:
    /// a user,item,time[,label] behaviour log for DIN-protocol models, the tutorial CSV for
    /// movielens_seed); unseen raw values map to the unknown id.
    /// </summary>
    public CtrDataset Read(string path) => ReadRaw(path).Data;

    /// <summary>As <see cref="Read"/>, with every row's raw user and item id (from the spec for a prepared split; "#id" without one).</summary>
    public RawRows ReadRaw(string path)
    {
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            var data = DatasetCache.Load(path);
            if (data.Schema.ToJson() != Model.Schema.ToJson())
                throw new ModelFormatException($"{path}: its features differ from the model's in {Directory} (prepare the data with the model's config)");
            var users = new string[data.Count];
            var items = new string[data.Count];
            var target = Model.Schema.Groups.SelectMany(g => g.Pairs).Select(p => p.Target).FirstOrDefault() ?? Model.Schema.Sparse.FirstOrDefault()?.Name;
            for (int r = 0; r < data.Count; r++)
                (users[r], items[r]) = Spec is not null ? Spec.RawIdsOf(data, r)
                    : (data.UserIds[r].ToString(), target is null ? "" : $"#{data.Sparse[target][r]}");
            return new RawRows(data, users, items, HasLabels: true);
        }
        if (Spec is not null)
        {
            try { return Spec.ReadFile(path, Model.Schema); }
            catch (InvalidOperationException e) { throw new ModelFormatException($"{Path.Combine(Directory, ServingSpec.FileName)}: {e.Message}"); }
        }
        if (Encoders is not null)
        {
            var t = Data.Readers.CsvTable.Read(path);
            var d = MovieLensSeed.Build(t, Encoders, Model.Schema, requireLabels: false);
            int cu = t.Column("userId"), cm = t.Column("movieId");
            return new RawRows(d, Enumerable.Range(0, t.Count).Select(r => t.Text(r, cu)).ToArray(),
                Enumerable.Range(0, t.Count).Select(r => t.Text(r, cm)).ToArray(), t.Header.Contains("label"));
        }
        throw new ModelFormatException($"{Directory}: {ServingSpec.FileName} is missing, so raw rows cannot be encoded; `train` writes it for every protocol but synthetic "
            + "(a synthetic-data model scores only prepared .safetensors splits; retrain older folders)");
    }

    /// <summary>Click probabilities of every row, in order.</summary>
    public float[] Predict(CtrDataset data, int batchSize = 2048) => Predictor.Predict(Model, data, batchSize);

    /// <summary>AUC, GAUC and logloss on labelled rows.</summary>
    public EvalMetrics Evaluate(CtrDataset data, int batchSize = 2048) => Predictor.Evaluate(Model, data, batchSize);

    /// <summary>One row's probability with the attention weights behind it.</summary>
    public Explanation Explain(CtrDataset data, int row) => Explainer.Explain(Model, data, row);
}
