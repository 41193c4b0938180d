using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Engine.Modules;

namespace DeepInterest.Models.Networks;

/// <summary>
/// One embedding table per schema table, shared by every feature naming it (keys
/// <c>embeddings.{table}.weight</c>). Looks up sparse features ([B] → [B, E]) and sequences ([B, T] → [B, T, E]).
/// </summary>
public sealed class FeatureEmbeddings : Module
{
    private readonly Dictionary<string, Embedding> _tables = new();
    private readonly FeatureSchema _schema;

    public FeatureEmbeddings(FeatureSchema schema, Rng rng, float initStd, bool sparseGrad = true)
    {
        _schema = schema;
        foreach (var t in schema.Tables)
            _tables[t.Name] = RegisterModule(t.Name, new Embedding(t.Vocab, t.Dim, rng, sparseGrad, initStd));
    }

    public int Dim(string table) => _tables[table].Dim;

    /// <summary>[B] → [B, E].</summary>
    public Tensor Sparse(ModelInput x, string feature) => _tables[_schema.SparseFeature(feature).Table].Forward(x.Sparse(feature));

    /// <summary>[B, T] → [B, T, E].</summary>
    public Tensor Sequence(ModelInput x, string feature) => _tables[_schema.Sequence(feature).Table].Forward(x.Sequence(feature).Ids);
}
