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
    private readonly Mlp _mlp;
    private readonly Linear _out;
    private readonly List<Tensor> _parts = new();

    public BaseModel(FeatureSchema schema, ModelOptions options) : base(schema, options)
    {
        var rng = new Rng(options.Seed);
        _emb = RegisterModule("embeddings", new FeatureEmbeddings(schema, rng, options.EmbeddingInitStd));
        int width = BaseInputWidth();
        (_mlp, _out) = RegisterHead(width, rng);
    }

    public override FeatureEmbeddings Embeddings => _emb;

    public override Tensor Forward(ModelInput x)
    {
        _parts.Clear();
        AddProfile(_parts, x);                                                                                      // [B, E] each
        foreach (var d in Schema.Dense) _parts.Add(x.Dense(d.Name));                                                 // [B, 1]
        var h = _mlp.Forward(F.ConcatLast(_parts));
        return F.Reshape(_out.Forward(h), new Shape(x.Count));                                                       // [B]
    }
}
