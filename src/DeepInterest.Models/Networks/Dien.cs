using System.ComponentModel;
using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Models.Layers;

namespace DeepInterest.Models.Networks;

/// <summary>DIEN's interest evolving layer (paper §4.3).</summary>
public enum EvolutionKind
{
    /// <summary>A GRU over the interest states, then attention pooling of its outputs.</summary>
    GruAttention,
    /// <summary>AIGRU: the GRU's inputs scaled by their attention weights.</summary>
    Aigru,
    /// <summary>AGRU: the attention weight replaces the update gate.</summary>
    Agru,
    /// <summary>AUGRU: the attention weight scales the update gate (the paper's choice).</summary>
    Augru,
}

/// <summary>DIEN's options: the evolving layer, the auxiliary loss, the attention and the common ones.</summary>
public sealed record DienOptions : AttentionModelOptions
{
    [Description("how attention scores become weights: sigmoid, softmax or none (raw scores)")]
    public AttentionNormalization Normalization { get; init; } = AttentionNormalization.Sigmoid;
    [Description("the interest evolving layer: gru_attention, aigru, agru or augru (the paper's)")]
    public EvolutionKind Evolution { get; init; } = EvolutionKind.Augru;
    [Description("weight α of the auxiliary loss (0 turns it off and drops the auxiliary network)")]
    public float AuxLossWeight { get; init; } = 1f;
    [Description("hidden sizes of the auxiliary network (sigmoid layers)")]
    public int[] AuxHidden { get; init; } = [100, 50];

    public override ModelOptions Validate()
    {
        base.Validate();
        new Engine.Modules.MlpOptions(AuxHidden, Engine.Modules.Activation.Sigmoid).Validate("model.aux_hidden");
        if (!(AuxLossWeight >= 0)) throw new ArgumentException($"model.aux_loss_weight must be ≥ 0, got {AuxLossWeight}.");
        return this;
    }
}

/// <summary>
/// Deep Interest Evolution Network (Zhou et al., AAAI 2019, Fig. 1). Per attention group
/// (<see cref="InterestEvolution"/>): an interest extractor GRU turns behaviours e_t into interest
/// states h_t (§4.2), trained with the auxiliary loss that asks h_t to tell the next clicked behaviour
/// e_{t+1} from a sampled negative e'_{t+1}; an interest evolving layer (§4.3) combines the states
/// with their attention to the candidate — GRU then attention pooling, AIGRU (attention-scaled
/// inputs), AGRU or AUGRU — and its last real state joins the other features in the MLP.
/// Loss = BCE + α·L_aux (L_aux summed over groups).
/// </summary>
public sealed class Dien : CtrModel<DienOptions>
{
    private readonly FeatureEmbeddings _emb;
    private readonly Dictionary<string, InterestEvolution> _groups = new();

    public Dien(FeatureSchema schema, DienOptions options) : base(schema, options)
    {
        if (schema.Groups.Count == 0) throw new SchemaException("DIEN needs at least one attention group (target ↔ history pairs) in the schema.");
        if (options.AuxLossWeight > 0)
            foreach (var g in schema.Groups)
                foreach (var p in g.Pairs)
                    if (p.NegativeHistory is null)
                        throw new SchemaException($"attention group '{g.Name}': DIEN's auxiliary loss needs a negative history for '{p.History}' (or set model.aux_loss_weight: 0)");
        var rng = new Rng(options.Seed);
        _emb = RegisterModule("embeddings", new FeatureEmbeddings(schema, rng, options.EmbeddingInitStd));
        var groups = RegisterModule("interest", new ModuleDictLike());
        int width = BaseInputWidth();
        foreach (var g in schema.Groups)
        {
            int dim = GroupDim(g);
            _groups[g.Name] = groups.Add(g.Name, new InterestEvolution(dim, options, rng));
            width += dim;
        }
        RegisterHead(width, rng);
    }

    public override FeatureEmbeddings Embeddings => _emb;

    /// <summary>
    /// Logits, with L_aux when <see cref="ForwardOutputs.AuxLoss"/> is asked for and the model has the
    /// auxiliary network (α &gt; 0), and the attention weights [B, T] per group when asked for.
    /// </summary>
    public override ForwardResult Forward(ModelInput x, ForwardOutputs outputs = ForwardOutputs.Logits)
    {
        bool withAux = (outputs & ForwardOutputs.AuxLoss) != 0 && Options.AuxLossWeight > 0;
        var attention = (outputs & ForwardOutputs.Attention) != 0 ? new Dictionary<string, Tensor>() : null;
        var parts = new List<Tensor>();
        Tensor? aux = null;
        AddProfile(parts, x);                                                                                       // [B, E] each
        foreach (var g in Schema.Groups)
        {
            var query = _emb.Query(x, g);                                                                          // [B, E]
            var keys = _emb.Keys(x, g);                                                                            // [B, T, E]
            var (_, mask, lengths) = x.Sequence(g.Pairs[0].History);
            var layers = _groups[g.Name];
            // A ranking request's rows share one user: extract the interests once and repeat them.
            var interests = x.SharedUser && x.Count > 1
                ? RepeatFirstRow(layers.Extract(FirstRow(keys), FirstRow(lengths)), x.Count)
                : layers.Extract(keys, lengths);                                                                   // [B, T, E]
            if (withAux && layers.AuxLoss(interests, keys, _emb.Keys(x, g, negative: true), lengths) is { } groupAux)
                aux = aux is null ? groupAux : F.Add(aux, groupAux);
            var (interest, weights) = layers.Evolve(query, interests, mask, lengths);                             // [B, E], [B, T]
            if (attention is not null) attention[g.Name] = weights;
            parts.Add(interest);                                                                                   // [B, E]
        }
        return new ForwardResult(Head(parts, x), aux, attention ?? ForwardResult.NoAttention);                    // [B]
    }

    public override Tensor Loss(ModelInput x)
    {
        var r = Forward(x, ForwardOutputs.AuxLoss);
        var loss = F.BinaryCrossEntropyWithLogits(r.Logits, x.Labels);
        return Regularize(r.AuxLoss is null ? loss : F.Add(loss, F.MulScalar(r.AuxLoss, Options.AuxLossWeight)), x);
    }
}
