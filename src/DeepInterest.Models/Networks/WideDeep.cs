using System.ComponentModel;
using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Engine.Modules;
using DeepInterest.Models.Layers;

namespace DeepInterest.Models.Networks;

/// <summary>Wide &amp; Deep's options: the wide part's crosses and the common ones (the deep part is BaseModel's).</summary>
public sealed record WideDeepOptions : ModelOptions
{
    [Description("add to the wide part the cross-product of every attention pair's target with its behaviours (the DIN paper's Wide&Deep)")]
    public bool Crosses { get; init; } = true;
    [Description("rows of each cross-product weight table: (behaviour id · target vocabulary + target id) modulo this")]
    public int CrossBuckets { get; init; } = 1 << 24;

    public override ModelOptions Validate()
    {
        base.Validate();
        if (CrossBuckets < 1) throw new ArgumentException($"model.cross_buckets must be ≥ 1, got {CrossBuckets}.");
        return this;
    }
}

/// <summary>
/// Wide &amp; Deep (Cheng et al., DLRS 2016, Fig. 1), one of the DIN paper's baselines: ŷ = σ(y_wide + y_deep).
/// The deep part is BaseModel (field embeddings, sequences pooled over their real positions, MLP).
/// The wide part is a linear model over the ids (<see cref="FirstOrder"/>, keys <c>linear.*</c>) and, as
/// the DIN paper's §6.3 does for Wide&amp;Deep, over the cross-product of the candidate with the user's
/// behaviours: for every attention pair (target, history), one weight per (behaviour, target) id
/// pair, summed over the real behaviours (keys <c>cross.{group}.{target}.weight</c>, row
/// (h·V_target + t) mod <see cref="WideDeepOptions.CrossBuckets"/>). Negative histories are not read.
/// </summary>
public sealed class WideDeep : CtrModel<WideDeepOptions>
{
    private readonly FeatureEmbeddings _emb;
    private readonly FirstOrder _linear;
    private readonly List<(AttentionPair Pair, int TargetVocab, Embedding Weights)> _crosses = new();

    public WideDeep(FeatureSchema schema, WideDeepOptions options) : base(schema, options)
    {
        var rng = new Rng(options.Seed);
        _emb = RegisterModule("embeddings", new FeatureEmbeddings(schema, rng, options.EmbeddingInitStd));
        _linear = RegisterModule("linear", new FirstOrder(schema, rng, options.EmbeddingInitStd));
        if (options.Crosses && schema.Groups.Count > 0)
        {
            var crosses = RegisterModule("cross", new ModuleDictLike());
            foreach (var g in schema.Groups)
            {
                var group = crosses.Add(g.Name, new ModuleDictLike());
                foreach (var p in g.Pairs)
                {
                    int targets = schema.Table(schema.SparseFeature(p.Target).Table).Vocab;
                    long rows = Math.Min((long)schema.Table(schema.Sequence(p.History).Table).Vocab * targets, options.CrossBuckets);
                    _crosses.Add((p, targets, group.Add(p.Target, new Embedding((int)rows, 1, rng, sparseGrad: true, options.EmbeddingInitStd))));
                }
            }
        }
        RegisterHead(BaseInputWidth(), rng);
    }

    public override FeatureEmbeddings Embeddings => _emb;

    /// <summary>Every behaviour sequence is a field; negative histories (DIEN's sampled items) are not.</summary>
    protected override bool IsPooled(string sequence) => !IsNegativeHistory(sequence);

    public override ForwardResult Forward(ModelInput x, ForwardOutputs outputs = ForwardOutputs.Logits)
    {
        var fields = new List<Tensor>();
        AddProfile(fields, x);                                                                             // N × [B, E]
        var wide = _linear.Forward(x, IsPooled);                                                           // [B]
        if (_crosses.Count > 0) wide = F.Add(wide, Crosses(x));
        return new ForwardResult(F.Add(Head(fields, x), wide));                                            // [B]
    }

    /// <summary>Σ over attention pairs and real behaviours of the cross weight w[(h·V_t + t) mod rows] → [B].</summary>
    internal Tensor Crosses(ModelInput x)
    {
        Tensor? sum = null;
        foreach (var (pair, targetVocab, weights) in _crosses)
        {
            var target = x.Sparse(pair.Target).Span;
            var (history, mask, _) = x.Sequence(pair.History);
            int b = history.Shape[0], t = history.Shape[1];
            long rows = weights.Vocab;
            var ids = Arena.Ints(b * t);
            var h = history.Span; var m = mask.Values;
            for (int r = 0; r < b; r++)
                for (int s = 0; s < t; s++)
                {
                    int i = r * t + s;
                    ids[i] = m[i] ? (int)(((long)h[i] * targetVocab + target[r]) % rows) : 0;
                }
            sum = FirstOrder.Add(sum, F.EmbeddingBag(weights.Weight, new IntTensor(ids, new Shape(b, t)), mask, F.Pooling.Sum));   // [B, 1]
        }
        return F.Reshape(sum!, new Shape(x.Count));
    }
}
