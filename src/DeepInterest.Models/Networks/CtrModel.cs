using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Engine.Modules;

namespace DeepInterest.Models.Networks;

/// <summary>The model families.</summary>
public enum ModelKind { Base, Din, Dien, Dsin }

/// <summary>DIEN's interest evolution layer (paper §4.3).</summary>
public enum EvolutionKind { GruAttention, Aigru, Agru, Augru }

/// <summary>DSIN: what tells the session extractor where a behaviour sits (paper §4.2 and the §5.5 ablation).</summary>
public enum SessionEncoding
{
    /// <summary>BE(k, t, c) = w_k^K + w_t^T + w_c^C: learned session, position and unit biases (the paper's choice).</summary>
    Bias,
    /// <summary>The Transformer's fixed sinusoidal positional encoding over positions within a session (the ablation).</summary>
    Positional,
    /// <summary>Nothing added.</summary>
    None,
}

/// <summary>DSIN: how the target activates the session interests (§4.4).</summary>
public enum SessionActivation
{
    /// <summary>a_k = softmax_k(I_k·W·x): the paper's bilinear form (Eq. 9–10).</summary>
    Bilinear,
    /// <summary>DIN's local activation unit with softmax normalization (the authors' DeepCTR code).</summary>
    ActivationUnit,
}

/// <summary>Penalty on the embedding rows of each mini-batch (DIN paper §4.2).</summary>
public enum Regularization
{
    /// <summary>No penalty (Adam's weight_decay may still apply L2 to everything).</summary>
    None,
    /// <summary>(λ/2)·Σ_{rows j in the batch} ‖w_j‖².</summary>
    L2,
    /// <summary>Mini-batch aware: (λ/2)·Σ_{rows j in the batch} ‖w_j‖²/n_j, n_j = the row's frequency in training.</summary>
    Mba,
}

/// <summary>How DIN turns attention scores into pooling weights.</summary>
public enum AttentionNormalization
{
    /// <summary>w = σ(score) at real positions (the "weight normalization off"; the seed tutorial).</summary>
    Sigmoid,
    /// <summary>w = softmax over real positions ("weight normalization on").</summary>
    Softmax,
    /// <summary>w = the raw score (the DIN authors' released code: no normalization at all).</summary>
    None,
}

/// <summary>
/// Hyperparameters shared by BaseModel and DIN (immutable; <see cref="Validate"/> names the bad field).
/// </summary>
public sealed record ModelOptions
{
    public ModelKind Kind { get; init; } = ModelKind.Din;
    public int[] MlpHidden { get; init; } = [200, 80];
    public Activation MlpActivation { get; init; } = Activation.PRelu;
    public bool MlpBatchNorm { get; init; }
    public float MlpDropout { get; init; }
    public int[] AttentionHidden { get; init; } = [80, 40];
    public Activation AttentionActivation { get; init; } = Activation.Dice;
    public float AttentionDropout { get; init; }
    /// <summary>BatchNorm after each linear layer of the attention MLP (the seed tutorial's attention has it).</summary>
    public bool AttentionBatchNorm { get; init; }
    public AttentionNormalization Normalization { get; init; } = AttentionNormalization.Sigmoid;
    public float EmbeddingInitStd { get; init; } = 1e-2f;
    public ulong Seed { get; init; } = 1024;
    /// <summary>Embedding regularization on the batch's rows.</summary>
    public Regularization Regularization { get; init; }
    /// <summary>λ of <see cref="Regularization"/>.</summary>
    public float RegularizationWeight { get; init; } = 0.01f;
    /// <summary>DIEN: how interests evolve toward the candidate.</summary>
    public EvolutionKind Evolution { get; init; } = EvolutionKind.Augru;
    /// <summary>DIEN: weight α of the auxiliary loss (0 turns it off).</summary>
    public float AuxLossWeight { get; init; } = 1f;
    /// <summary>DIEN: hidden sizes of the auxiliary network.</summary>
    public int[] AuxHidden { get; init; } = [100, 50];

    /// <summary>How sequences outside attention (and BaseModel's histories) are pooled into the MLP input (the DIN paper: sum).</summary>
    public F.Pooling SequencePooling { get; init; } = F.Pooling.Sum;
    /// <summary>DIN: divide attention scores by √E before normalizing (the seed tutorial's attention does).</summary>
    public bool AttentionScale { get; init; }
    /// <summary>DSIN: attention heads of the session interest extractor (must divide the session embedding width).</summary>
    public int SessionHeads { get; init; } = 2;
    /// <summary>DSIN: hidden width of the extractor's feed-forward network (0 = the embedding width, as in the authors' code).</summary>
    public int SessionFeedForward { get; init; }
    /// <summary>DSIN: bias encoding (paper), positional encoding or none.</summary>
    public SessionEncoding SessionEncoding { get; init; } = SessionEncoding.Bias;
    /// <summary>DSIN: the Bi-LSTM session interest interacting layer (false = the paper's "without interacting" ablation).</summary>
    public bool SessionInteracting { get; init; } = true;
    /// <summary>DSIN: the activating layer's scoring.</summary>
    public SessionActivation SessionActivation { get; init; } = SessionActivation.Bilinear;

    public ModelOptions Validate()
    {
        if (SessionHeads < 1) throw new ArgumentException($"model.session_heads must be ≥ 1, got {SessionHeads}.");
        if (SessionFeedForward < 0) throw new ArgumentException($"model.session_feed_forward must be ≥ 0, got {SessionFeedForward}.");
        new MlpOptions(MlpHidden, MlpActivation, MlpDropout, MlpBatchNorm).Validate("model.mlp_hidden");
        new MlpOptions(AttentionHidden, AttentionActivation, AttentionDropout, AttentionBatchNorm).Validate("model.attention_hidden");
        new MlpOptions(AuxHidden, Activation.Sigmoid).Validate("model.aux_hidden");
        if (!(AuxLossWeight >= 0)) throw new ArgumentException($"model.aux_loss_weight must be ≥ 0, got {AuxLossWeight}.");
        if (!(RegularizationWeight >= 0)) throw new ArgumentException($"model.regularization_weight must be ≥ 0, got {RegularizationWeight}.");
        if (!(EmbeddingInitStd > 0)) throw new ArgumentException($"model.embedding_init_std must be positive, got {EmbeddingInitStd}.");
        return this;
    }
}

/// <summary>
/// A CTR model: a module mapping a <see cref="ModelInput"/> to click logits [B], with a training
/// loss (mean binary cross-entropy plus any auxiliary terms). Models never own an optimizer.
/// </summary>
public abstract class CtrModel : Module
{
    protected CtrModel(FeatureSchema schema, ModelOptions options)
    {
        Schema = schema.Validate();
        Options = options.Validate();
    }

    public FeatureSchema Schema { get; }
    public ModelOptions Options { get; }

    /// <summary>
    /// Whether a sequence is pooled into the MLP input: BaseModel pools every sequence; the
    /// attention models pool those no attention group uses. A group's negative history (random
    /// items for DIEN's auxiliary loss) is never pooled: it carries no signal about the user (the
    /// seed tutorial's DIN max-pools its random negHistMovieIds; on the seed data that costs test AUC).
    /// </summary>
    protected bool IsPooled(string sequence) => Options.Kind == ModelKind.Base || !Schema.IsAttended(sequence);

    /// <summary>
    /// Width of the MLP input before interests are added: every sparse embedding, every pooled
    /// sequence (<see cref="IsPooled"/>) and every dense value.
    /// </summary>
    protected int BaseInputWidth() =>
        Schema.Sparse.Sum(s => Schema.Table(s.Table).Dim) + Schema.Dense.Count
        + Schema.Sequences.Where(q => IsPooled(q.Name)).Sum(q => Schema.Table(q.Table).Dim);

    /// <summary>Adds the sparse embeddings [B, E] and the pooled sequences [B, E] to <paramref name="parts"/>.</summary>
    protected void AddProfile(List<Tensor> parts, ModelInput x)
    {
        foreach (var s in Schema.Sparse) parts.Add(Embeddings.Sparse(x, s.Name));
        foreach (var q in Schema.Sequences)
            if (IsPooled(q.Name))
                parts.Add(Embeddings.PooledSequence(x, q.Name, Options.SequencePooling));
    }

    /// <summary>Width of a group's query (its targets' embeddings concatenated).</summary>
    protected int GroupDim(AttentionGroup g) => TargetsDim(g.Pairs.Select(p => p.Target));

    /// <summary>Width of a session group's query and behaviours (its targets' embeddings concatenated).</summary>
    protected int GroupDim(SessionGroup g) => TargetsDim(g.Pairs.Select(p => p.Target));

    private int TargetsDim(IEnumerable<string> targets) => targets.Sum(t => Schema.Table(Schema.SparseFeature(t).Table).Dim);

    /// <summary>Click logits [B].</summary>
    public abstract Tensor Forward(ModelInput x);

    /// <summary>
    /// Attention weights [B, T] per attention group from the last forward pass (DIN, DIEN); empty for
    /// models without attention. The tensors belong to that pass's arena: copy them out before it ends.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> AttentionWeights => LastWeights;

    /// <summary>Where attention models record each group's weights during forward.</summary>
    protected Dictionary<string, Tensor> LastWeights { get; } = new();

    private Mlp? _headMlp;
    private Linear? _headOut;

    /// <summary>Registers the top of every model: <c>mlp</c> over the concatenated features, then <c>out</c> → one logit.</summary>
    protected void RegisterHead(int width, Rng rng)
    {
        _headMlp = RegisterModule("mlp", new Mlp(width, new MlpOptions(Options.MlpHidden, Options.MlpActivation, Options.MlpDropout, Options.MlpBatchNorm), rng));
        _headOut = RegisterModule("out", new Linear(_headMlp.OutFeatures, 1, rng));
    }

    /// <summary>Appends the dense features [B, 1] to <paramref name="parts"/> and maps their concatenation through the head → logits [B].</summary>
    protected Tensor Head(List<Tensor> parts, ModelInput x)
    {
        foreach (var d in Schema.Dense) parts.Add(x.Dense(d.Name));
        var h = _headMlp!.Forward(F.ConcatLast(parts));
        return F.Reshape(_headOut!.Forward(h), new Shape(x.Count));
    }

    /// <summary>The embedding tables (for regularization and frequencies).</summary>
    public abstract FeatureEmbeddings Embeddings { get; }

    /// <summary>The training objective for a batch: BCE plus the embedding penalty, if any.</summary>
    public virtual Tensor Loss(ModelInput x) => Regularize(F.BinaryCrossEntropyWithLogits(Forward(x), x.Labels), x);

    /// <summary>Adds the configured penalty on the batch's embedding rows to <paramref name="loss"/>.</summary>
    protected Tensor Regularize(Tensor loss, ModelInput x)
    {
        if (Options.Regularization == Regularization.None || Options.RegularizationWeight == 0) return loss;
        var p = Embeddings.BatchPenalty(x, Options.RegularizationWeight, Options.Regularization == Regularization.Mba);
        return p is null ? loss : F.Add(loss, p);
    }

    /// <summary>Builds the model named by <see cref="ModelOptions.Kind"/>.</summary>
    public static CtrModel Create(FeatureSchema schema, ModelOptions options) => options.Kind switch
    {
        ModelKind.Base => new BaseModel(schema, options),
        ModelKind.Dien => new Dien(schema, options),
        ModelKind.Dsin => new Dsin(schema, options),
        _ => new Din(schema, options),
    };
}
