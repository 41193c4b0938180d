using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Engine.Modules;

namespace DeepInterest.Models.Networks;

/// <summary>
/// The papers' "Embedding &amp; MLP" baseline (DIN paper §4.2, Fig. 2 left): every feature is
/// embedded, each behaviour sequence is sum-pooled over its real positions, everything is
/// concatenated with the dense features and fed to an MLP with one logit output.
/// </summary>
public sealed class BaseModel : CtrModel
{
    private readonly FeatureEmbeddings _emb;
    private readonly List<Tensor> _parts = new();

    public BaseModel(FeatureSchema schema, ModelOptions options) : base(schema, options)
    {
        var rng = new Rng(options.Seed);
        _emb = RegisterModule("embeddings", new FeatureEmbeddings(schema, rng, options.EmbeddingInitStd));
        int width = BaseInputWidth();
        RegisterHead(width, rng);
    }

    public override FeatureEmbeddings Embeddings => _emb;

    public override Tensor Forward(ModelInput x)
    {
        _parts.Clear();
        AddProfile(_parts, x);                                                                                      // [B, E] each
        return Head(_parts, x);                                                                                    // [B]
    }
}
