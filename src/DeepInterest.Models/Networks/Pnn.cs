using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Models.Layers;

namespace DeepInterest.Models.Networks;

/// <summary>PNN's options: the common ones (embeddings, pooling, MLP head).</summary>
public sealed record PnnOptions : ModelOptions;

/// <summary>
/// Product-based Neural Network with inner products (IPNN; Qu et al., ICDM 2016, Fig. 1, §3.1), one of
/// the DIN paper's baselines. Fields f_1 … f_N are the sparse features' embeddings and the behaviour
/// sequences pooled over their real positions (negative histories are not fields); the product layer
/// is the fields themselves (the linear signal z) beside their pairwise inner products p_ij = ⟨f_i, f_j⟩,
/// i &lt; j, and the MLP reads [z, p, dense] → one logit (as DeepCTR's PNN: W_z·z + W_p·p + b is the
/// MLP's first layer over the concatenation).
/// </summary>
public sealed class Pnn : CtrModel<PnnOptions>
{
    private readonly FeatureEmbeddings _emb;

    public Pnn(FeatureSchema schema, PnnOptions options) : base(schema, options)
    {
        FieldInteractions.CommonWidth(schema, IsPooled, "PNN");
        var rng = new Rng(options.Seed);
        _emb = RegisterModule("embeddings", new FeatureEmbeddings(schema, rng, options.EmbeddingInitStd));
        int fields = schema.Sparse.Count + schema.Sequences.Count(q => IsPooled(q.Name));
        RegisterHead(BaseInputWidth() + fields * (fields - 1) / 2, rng);
    }

    public override FeatureEmbeddings Embeddings => _emb;

    /// <summary>Every behaviour sequence is a field; negative histories (DIEN's sampled items) are not.</summary>
    protected override bool IsPooled(string sequence) => !IsNegativeHistory(sequence);

    public override ForwardResult Forward(ModelInput x, ForwardOutputs outputs = ForwardOutputs.Logits)
    {
        var fields = new List<Tensor>();
        AddProfile(fields, x);                                                                             // N × [B, E]
        var products = FieldInteractions.InnerProducts(fields);                                            // [B, N(N−1)/2]
        fields.Add(products);
        return new ForwardResult(Head(fields, x));                                                         // [B]
    }
}
