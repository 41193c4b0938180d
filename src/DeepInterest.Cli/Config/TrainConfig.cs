using DeepInterest.Engine.Modules;
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

public sealed class ModelConfig
{
    [Key("kind", "base, din, dien or dsin")] public ModelKind Kind { get; init; } = ModelKind.Din;
    [Key("mlp_hidden")] public int[] MlpHidden { get; init; } = [200, 80];
    [Key("mlp_activation")] public Activation MlpActivation { get; init; } = Activation.PRelu;
    [Key("mlp_batch_norm")] public bool MlpBatchNorm { get; init; }
    [Key("mlp_dropout")] public float MlpDropout { get; init; }
    [Key("attention_hidden")] public int[] AttentionHidden { get; init; } = [80, 40];
    [Key("attention_activation")] public Activation AttentionActivation { get; init; } = Activation.Dice;
    [Key("attention_batch_norm", "BatchNorm inside the attention MLP (the seed tutorial)")] public bool AttentionBatchNorm { get; init; }
    [Key("attention_dropout")] public float AttentionDropout { get; init; }
    [Key("normalization", "sigmoid, softmax or none")] public AttentionNormalization Normalization { get; init; } = AttentionNormalization.Sigmoid;
    [Key("evolution", "DIEN: gru_attention, aigru, agru or augru")] public EvolutionKind Evolution { get; init; } = EvolutionKind.Augru;
    [Key("aux_loss_weight", "DIEN: α of the auxiliary loss")] public float AuxLossWeight { get; init; } = 1f;
    [Key("aux_hidden")] public int[] AuxHidden { get; init; } = [100, 50];
    [Key("sequence_pooling", "sum, mean or max: pooling of sequences outside attention")] public DeepInterest.Engine.F.Pooling SequencePooling { get; init; } = DeepInterest.Engine.F.Pooling.Sum;
    [Key("attention_scale", "DIN: divide attention scores by √E before normalizing (the seed tutorial)")] public bool AttentionScale { get; init; }
    [Key("session_heads", "DSIN: self-attention heads per session")] public int SessionHeads { get; init; } = 2;
    [Key("session_feed_forward", "DSIN: feed-forward width of the extractor (0 = embedding width)")] public int SessionFeedForward { get; init; }
    [Key("session_encoding", "DSIN: bias (the paper), positional or none")] public SessionEncoding SessionEncoding { get; init; } = SessionEncoding.Bias;
    [Key("session_interacting", "DSIN: the Bi-LSTM interacting layer")] public bool SessionInteracting { get; init; } = true;
    [Key("session_activation", "DSIN: bilinear (the paper) or activation_unit")] public SessionActivation SessionActivation { get; init; } = SessionActivation.Bilinear;
    [Key("embedding_init_std")] public float EmbeddingInitStd { get; init; } = 1e-2f;
    [Key("regularization", "none, l2 or mba (the DIN paper's mini-batch aware L2 on the batch's embedding rows)")] public Regularization Regularization { get; init; }
    [Key("regularization_weight", "λ of the embedding regularization")] public float RegularizationWeight { get; init; } = 0.01f;

    public ModelOptions ToOptions(ulong seed) => new()
    {
        Kind = Kind, MlpHidden = MlpHidden, MlpActivation = MlpActivation, MlpBatchNorm = MlpBatchNorm, MlpDropout = MlpDropout,
        AttentionHidden = AttentionHidden, AttentionActivation = AttentionActivation, AttentionDropout = AttentionDropout, AttentionBatchNorm = AttentionBatchNorm,
        Normalization = Normalization, Evolution = Evolution, AuxLossWeight = AuxLossWeight, AuxHidden = AuxHidden,
        SequencePooling = SequencePooling, AttentionScale = AttentionScale,
        SessionHeads = SessionHeads, SessionFeedForward = SessionFeedForward, SessionEncoding = SessionEncoding,
        SessionInteracting = SessionInteracting, SessionActivation = SessionActivation,
        EmbeddingInitStd = EmbeddingInitStd, Regularization = Regularization, RegularizationWeight = RegularizationWeight, Seed = seed,
    };
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
    [Key("model")] public ModelConfig Model { get; init; } = new();
    [Key("train")] public TrainingConfig Train { get; init; } = new();
}
