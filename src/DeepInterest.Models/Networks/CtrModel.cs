using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Engine.Modules;

namespace DeepInterest.Models.Networks;

/// <summary>What a forward pass computes besides the logits (it skips the rest).</summary>
[Flags]
public enum ForwardOutputs
{
    /// <summary>Logits only (scoring, training without auxiliary terms).</summary>
    Logits = 0,
    /// <summary>The model's auxiliary loss, if it has one (DIEN's L_aux, training only).</summary>
    AuxLoss = 1,
    /// <summary>Attention weights per group (explanations, serving); DSIN's behaviour shares cost an extra pass.</summary>
    Attention = 2,
}

/// <summary>
/// What one forward pass found, returned to the caller instead of kept on the model (a loaded model
/// is shared by many threads). The tensors belong to the pass's arena: copy them out before it ends.
/// </summary>
/// <param name="Logits">Click logits [B].</param>
/// <param name="AuxLoss">The auxiliary loss (unweighted; DIEN's L_aux, Eq. 6), when asked for and defined.</param>
/// <param name="Attention">
/// Attention weights when asked for: DIN/DIEN, per attention group name, the pooling weights [B, T];
/// DSIN, per session group g, <c>g.extractor</c> and <c>g.interacting</c> [B, S] (activation over
/// sessions) and <c>g.items</c> [B, S, L] (each behaviour's share of its session interest). Empty otherwise.
/// </param>
public sealed record ForwardResult(Tensor Logits, Tensor? AuxLoss, IReadOnlyDictionary<string, Tensor> Attention)
{
    private static readonly IReadOnlyDictionary<string, Tensor> None = new Dictionary<string, Tensor>();

    public ForwardResult(Tensor logits) : this(logits, null, None) { }

    /// <summary>An empty attention map, for models without attention or calls that did not ask for it.</summary>
    public static IReadOnlyDictionary<string, Tensor> NoAttention => None;
}

/// <summary>
/// A CTR model: a module mapping a <see cref="ModelInput"/> to click logits [B], with a training
/// loss (mean binary cross-entropy plus any auxiliary terms). Models never own an optimizer, and a
/// forward pass keeps nothing in fields: what it finds is returned (<see cref="ForwardResult"/>) and
/// its scratch belongs to the call, so one model scores on many threads at once (inside
/// <see cref="Module.Evaluating"/>, which never flips a shared flag).
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

    /// <summary>The registered kind name (<see cref="ModelRegistry"/>).</summary>
    public string Kind => Options.Kind;

    /// <summary>
    /// Whether a sequence is pooled into the MLP input. The attention models pool the sequences no
    /// attention group uses; a group's negative history (random items for DIEN's auxiliary loss) is
    /// never pooled by them: it carries no signal about the user (the PyTorch DIN tutorial max-pools
    /// its random negHistMovieIds; on the MovieLens tutorial data that costs test AUC).
    /// </summary>
    protected virtual bool IsPooled(string sequence) => !Schema.IsAttended(sequence);

    /// <summary>Whether <paramref name="sequence"/> is some attention group's negative history.</summary>
    protected bool IsNegativeHistory(string sequence) => Schema.Groups.Any(g => g.Pairs.Any(p => p.NegativeHistory == sequence));

    /// <summary>The sequences pooled into the MLP input, in schema order.</summary>
    protected IEnumerable<SequenceFeature> PooledSequences => Schema.Sequences.Where(q => IsPooled(q.Name));

    /// <summary>
    /// Width of the MLP input before interests are added: every sparse embedding, every pooled
    /// sequence (<see cref="IsPooled"/>) and every dense value.
    /// </summary>
    protected int BaseInputWidth() =>
        Schema.Sparse.Sum(s => Schema.Table(s.Table).Dim) + Schema.Dense.Count + PooledSequences.Sum(q => Schema.Table(q.Table).Dim);

    /// <summary>Adds the sparse embeddings [B, E] and the pooled sequences [B, E] to <paramref name="parts"/>.</summary>
    protected void AddProfile(List<Tensor> parts, ModelInput x)
    {
        foreach (var s in Schema.Sparse) parts.Add(Embeddings.Sparse(x, s.Name));
        foreach (var q in Schema.Sequences)
            if (IsPooled(q.Name)) parts.Add(Embeddings.PooledSequence(x, q.Name, Options.SequencePooling));
    }

    /// <summary>Width of a group's query (its targets' embeddings concatenated).</summary>
    protected int GroupDim(AttentionGroup g) => TargetsDim(g.Pairs.Select(p => p.Target));

    /// <summary>Width of a session group's query and behaviours (its targets' embeddings concatenated).</summary>
    protected int GroupDim(SessionGroup g) => TargetsDim(g.Pairs.Select(p => p.Target));

    private int TargetsDim(IEnumerable<string> targets) => targets.Sum(t => Schema.Table(Schema.SparseFeature(t).Table).Dim);

    /// <summary>Click logits [B] and whatever else <paramref name="outputs"/> asks for.</summary>
    public abstract ForwardResult Forward(ModelInput x, ForwardOutputs outputs = ForwardOutputs.Logits);

    private Mlp? _headMlp;
    private Linear? _headOut;

    /// <summary>Registers the top of every model: <c>mlp</c> over the concatenated features, then <c>out</c> → one logit.</summary>
    protected void RegisterHead(int width, Rng rng)
    {
        _headMlp = RegisterModule("mlp", new Mlp(width, Options.Mlp, rng));
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
    public virtual Tensor Loss(ModelInput x) => Regularize(F.BinaryCrossEntropyWithLogits(Forward(x).Logits, x.Labels), x);

    /// <summary>Adds the configured penalty on the batch's embedding rows to <paramref name="loss"/>.</summary>
    protected Tensor Regularize(Tensor loss, ModelInput x)
    {
        if (Options.Regularization == Regularization.None || Options.RegularizationWeight == 0) return loss;
        var p = Embeddings.BatchPenalty(x, Options.RegularizationWeight, Options.Regularization == Regularization.Mba);
        return p is null ? loss : F.Add(loss, p);
    }

    /// <summary>Row 0 of <paramref name="x"/> [B, ...] → [1, ...].</summary>
    protected internal static Tensor FirstRow(Tensor x) => RepeatFirstRow(x, 1);

    /// <summary>
    /// Row 0 of <paramref name="x"/> [B, ...] repeated <paramref name="n"/> times → [n, ...] (a row
    /// gather, so gradients add back): a shared user's side, computed once, for each candidate.
    /// </summary>
    protected internal static Tensor RepeatFirstRow(Tensor x, int n)
    {
        int width = x.Size / x.Shape[0];
        var rows = Arena.Ints(n);
        Array.Clear(rows, 0, n);
        Span<int> dims = stackalloc int[x.Shape.Rank];
        for (int i = 0; i < dims.Length; i++) dims[i] = x.Shape[i];
        dims[0] = n;
        return F.Reshape(F.GatherRows(F.Reshape(x, new Shape(x.Shape[0], width)), rows, n), Shape.Of(dims));
    }

    /// <summary>Row 0's length alone: lengths [B] → [1].</summary>
    protected internal static IntTensor FirstRow(IntTensor lengths)
    {
        var one = Arena.Ints(1);
        one[0] = lengths.Span[0];
        return new IntTensor(one, new Shape(1));
    }

    /// <summary>Builds the model kind that <paramref name="options"/> belong to (<see cref="ModelRegistry.Create"/>).</summary>
    public static CtrModel Create(FeatureSchema schema, ModelOptions options) => ModelRegistry.Create(schema, options);
}

/// <summary>A model with its own options record: <see cref="Options"/> typed as that record.</summary>
public abstract class CtrModel<TOptions> : CtrModel where TOptions : ModelOptions
{
    protected CtrModel(FeatureSchema schema, TOptions options) : base(schema, options) { }

    /// <summary>This model's hyperparameters.</summary>
    public new TOptions Options => (TOptions)base.Options;
}
