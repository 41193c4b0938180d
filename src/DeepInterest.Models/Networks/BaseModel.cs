using DeepInterest.Data.Schema;
using DeepInterest.Engine;

namespace DeepInterest.Models.Networks;

/// <summary>BaseModel's options: the common ones (embeddings, pooling, MLP head).</summary>
public sealed record BaseModelOptions : ModelOptions;

/// <summary>
/// The papers' "Embedding &amp; MLP" baseline (DIN paper §4.2, Fig. 2 left): every feature is
/// embedded, each behaviour sequence is sum-pooled over its real positions, everything is
/// concatenated with the dense features and fed to an MLP with one logit output.
/// </summary>
public sealed class BaseModel : CtrModel<BaseModelOptions>
{
    private readonly FeatureEmbeddings _emb;

    public BaseModel(FeatureSchema schema, BaseModelOptions options) : base(schema, options)
    {
        var rng = new Rng(options.Seed);
        _emb = RegisterModule("embeddings", new FeatureEmbeddings(schema, rng, options.EmbeddingInitStd));
        RegisterHead(BaseInputWidth(), rng);
    }

    public override FeatureEmbeddings Embeddings => _emb;

    /// <summary>Every sequence, attended or not (negative histories included), as the reference BaseModel.</summary>
    protected override bool IsPooled(string sequence) => true;

    public override ForwardResult Forward(ModelInput x, ForwardOutputs outputs = ForwardOutputs.Logits)
    {
        var parts = new List<Tensor>();
        AddProfile(parts, x);                                                                                       // [B, E] each
        return new ForwardResult(Head(parts, x));                                                                  // [B]
    }
}
