using DeepInterest.Engine.Optim;
using DeepInterest.Models.Networks;
using DeepInterest.Models.Training;

namespace DeepInterest.Cli.Config;

/// <summary>Datasets the <c>train</c> command can build.</summary>
public enum DataProtocol { MovielensSeed, Ml1mDin, AmazonDin, BehaviourLog, Synthetic }

public sealed class DataConfig
{
    [Key("protocol", "movielens_seed (the tutorial's train.csv/test.csv), ml1m_din (DIN paper protocol on all of ML-1M) or synthetic (planted interests)")] public DataProtocol Protocol { get; init; } = DataProtocol.MovielensSeed;
    [Key("cache", "a folder written by `prepare`: load its train/valid/test instead of building the protocol")] public string? Cache { get; init; }
    [Key("stream_chunk_rows", "with cache: stream the training set from disk in chunks of this many rows (0 = load it into memory)")] public int StreamChunkRows { get; init; }
    [Key("train", "training CSV")] public string Train { get; init; } = "../shared/data/movielens-1m-prediction-flow/train.csv";
    [Key("test", "test CSV")] public string Test { get; init; } = "../shared/data/movielens-1m-prediction-flow/test.csv";
    [Key("valid_fraction", "share of the training rows held out for validation")] public double ValidFraction { get; init; } = 0.1;
    [Key("min_count", "movielens_seed: values seen fewer times in the training rows map to the unknown id (the tutorial's encoders: 5)")] public int MinCount { get; init; } = 1;
    [Key("embedding_dim", "embedding size of every table")] public int EmbeddingDim { get; init; } = 16;
    [Key("samples", "synthetic: number of impressions")] public int Samples { get; init; } = 60_000;
    [Key("ordered", "ml1m_din: the per-user ordered interactions (csv.gz)")] public string Ordered { get; init; } = "../shared/data/movielens-1m-ordered/ml1m_ordered_interactions.csv.gz";
    [Key("movies", "ml1m_din: movies.dat (category = first genre)")] public string Movies { get; init; } = "../shared/data/movielens-1m/movies.dat";
    [Key("max_history", "ml1m_din, amazon_din, behaviour_log: most recent behaviours kept per sample")] public int MaxHistory { get; init; } = 20;
    [Key("negative_history", "ml1m_din: add DIEN negative histories")] public bool NegativeHistory { get; init; }
    [Key("reviews", "amazon_din: McAuley reviews_<Category>_5.json(.gz)")] public string Reviews { get; init; } = "../shared/data/amazon-electronics/reviews_Electronics_5.json.gz";
    [Key("meta", "amazon_din: McAuley meta_<Category>.json(.gz) (empty: no categories)")] public string Meta { get; init; } = "";
    [Key("log", "behaviour_log: CSV with a header, one row per behaviour")] public string Log { get; init; } = "";
    [Key("user_column", "behaviour_log: user column")] public string UserColumn { get; init; } = "user";
    [Key("item_column", "behaviour_log: item column")] public string ItemColumn { get; init; } = "item";
    [Key("time_column", "behaviour_log: integer time column")] public string TimeColumn { get; init; } = "time";
    [Key("category_column", "behaviour_log: optional category column")] public string CategoryColumn { get; init; } = "";
    [Key("label_column", "behaviour_log: optional 0/1 label column (rows are then impressions, split by time)")] public string LabelColumn { get; init; } = "";
    [Key("max_sessions", "ml1m_din: DSIN sessions per sample (0 = none)")] public int MaxSessions { get; init; }
    [Key("session_length", "ml1m_din: behaviours kept per session (the most recent)")] public int SessionLength { get; init; } = 10;
    [Key("session_gap_seconds", "ml1m_din: a longer gap starts a new session")] public long SessionGapSeconds { get; init; } = 1800;
}

/// <summary><c>model.kind</c> chooses the options record of a registered model kind (<see cref="ModelRegistry"/>).</summary>
public sealed class ModelKinds : IKindResolver
{
    public string Key => "kind";
    public string Default => "din";
    public IReadOnlyList<string> Kinds { get; } = ModelRegistry.Kinds.Select(k => k.Name).ToList();
    public Type? Resolve(string kind) => ModelRegistry.Find(kind)?.OptionsType;
}

public sealed class TrainingConfig
{
    [Key("epochs")] public int Epochs { get; init; } = 10;
    [Key("batch_size")] public int BatchSize { get; init; } = 256;
    [Key("learning_rate")] public float LearningRate { get; init; } = 1e-3f;
    [Key("weight_decay", "Adam's L2 term (PyTorch semantics)")] public float WeightDecay { get; init; }
    [Key("embedding_updates", "dense (PyTorch-exact) or lazy (only rows in the batch)")] public SparseMode EmbeddingUpdates { get; init; } = SparseMode.Lazy;
    [Key("metric", "auc, gauc or logloss: picks the best epoch on validation")] public SelectMetric Metric { get; init; } = SelectMetric.Auc;
    [Key("patience")] public int Patience { get; init; } = 2;
    [Key("min_delta")] public double MinDelta { get; init; } = 1e-4;
    [Key("seed")] public int Seed { get; init; } = 1;
    [Key("monitor_test", "also evaluate the test split after every epoch, for history.csv only (selection stays on validation)")] public bool MonitorTest { get; init; }
    [Key("bucket_window", "sort rows by length within windows of this many batches, then shuffle the batches (0 = off)")] public int BucketWindow { get; init; }
    [Key("threads", "worker threads (0 = all cores)")] public int Threads { get; init; }

    public TrainOptions ToOptions() => new()
    {
        Epochs = Epochs, BatchSize = BatchSize, LearningRate = LearningRate, WeightDecay = WeightDecay, EmbeddingUpdates = EmbeddingUpdates,
        Metric = Metric, Patience = Patience, MinDelta = MinDelta, Seed = (ulong)Seed, BucketWindow = BucketWindow,
    };
}

/// <summary>A <c>train</c> config file: data, model and training sections.</summary>
public sealed class TrainConfig
{
    [Key("data")] public DataConfig Data { get; init; } = new();
    /// <summary>The model's options; <c>model.seed</c> is not a key: the model is initialised from <c>train.seed</c>.</summary>
    [Key("model", "the model: kind and that kind's options")] [Kinded(typeof(ModelKinds))] public ModelOptions Model { get; init; } = new DinOptions();

    /// <summary>The model's options with the training seed (which also initialises the weights).</summary>
    public ModelOptions ModelOptions() => Model with { Seed = (ulong)Train.Seed };
    [Key("train")] public TrainingConfig Train { get; init; } = new();
}
