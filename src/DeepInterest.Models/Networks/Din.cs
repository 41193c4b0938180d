using System.ComponentModel;
using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Engine.Modules;

namespace DeepInterest.Models.Networks;

/// <summary>DIN's options: the activation unit's MLP, how its scores become weights, and the common ones.</summary>
public sealed record DinOptions : AttentionModelOptions
{
    [Description("how attention scores become pooling weights: sigmoid, softmax or none (raw scores)")]
    public AttentionNormalization Normalization { get; init; } = AttentionNormalization.Sigmoid;
    [Description("divide attention scores by √E before normalizing (the PyTorch DIN tutorial's attention does)")]
    public bool AttentionScale { get; init; }
}

/// <summary>
/// Deep Interest Network (Zhou et al., KDD 2018, Fig. 2 right). For each attention group the
/// candidate's embeddings (item ‖ category) form the query q [B, E]; the behaviours' embeddings
/// form the keys k [B, T, E]; the local activation unit scores every real behaviour against q,
/// and the user interest is v = Σ_t w_t·k_t over real positions. Interests, the other embeddings
/// (sequences outside groups are sum-pooled) and dense features feed the MLP → one logit.
/// </summary>
public sealed class Din : CtrModel<DinOptions>
{
    private readonly FeatureEmbeddings _emb;
    private readonly Dictionary<string, ActivationUnit> _attention = new();

    public Din(FeatureSchema schema, DinOptions options) : base(schema, options)
    {
        if (schema.Groups.Count == 0) throw new SchemaException("DIN needs at least one attention group (target ↔ history pairs) in the schema.");
        var rng = new Rng(options.Seed);
        _emb = RegisterModule("embeddings", new FeatureEmbeddings(schema, rng, options.EmbeddingInitStd));
        var groups = RegisterModule("attention", new ModuleDictLike());
        int width = BaseInputWidth();
        foreach (var g in schema.Groups)
        {
            int dim = GroupDim(g);
            _attention[g.Name] = groups.Add(g.Name, new ActivationUnit(dim, options.AttentionMlp, rng));
            width += dim;
        }
        RegisterHead(width, rng);
    }

    public override FeatureEmbeddings Embeddings => _emb;

    public override ForwardResult Forward(ModelInput x, ForwardOutputs outputs = ForwardOutputs.Logits)
    {
        var parts = new List<Tensor>();
        var attention = (outputs & ForwardOutputs.Attention) != 0 ? new Dictionary<string, Tensor>() : null;
        AddProfile(parts, x);                                                                                       // [B, E] each
        foreach (var g in Schema.Groups)
        {
            var query = _emb.Query(x, g);                                                                          // [B, E]: targets side by side
            var keys = _emb.Keys(x, g);                                                                            // [B, T, E]: histories side by side
            var mask = x.Sequence(g.Pairs[0].History).Mask;
            var scores = _attention[g.Name].Forward(query, keys, mask);                                            // [B, T]
            if (Options.AttentionScale) scores = F.MulScalar(scores, 1f / MathF.Sqrt(query.Shape.Last));
            var weights = Normalize(scores, mask, Options.Normalization);
            if (attention is not null) attention[g.Name] = weights;
            parts.Add(F.WeightedSum(weights, keys, mask));                                                         // [B, E]
        }
        return new ForwardResult(Head(parts, x), null, attention ?? ForwardResult.NoAttention);                   // [B]
    }

    /// <summary>Scores [B, T] → pooling weights at the real positions of <paramref name="mask"/>.</summary>
    internal static Tensor Normalize(Tensor scores, Mask mask, AttentionNormalization kind) => kind switch
    {
        AttentionNormalization.Softmax => F.MaskedSoftmax(scores, mask),
        AttentionNormalization.Sigmoid => F.MaskedSigmoid(scores, mask),
        _ => scores,
    };
}

/// <summary>Children registered under arbitrary names (group names), like nn.ModuleDict.</summary>
public sealed class ModuleDictLike : Module
{
    public T Add<T>(string name, T module) where T : Module => RegisterModule(name, module);
}
