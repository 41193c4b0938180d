using DeepInterest.Data.Batches;
using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Engine.Modules;
using DeepInterest.Models.Networks;

namespace DeepInterest.Models.Layers;

/// <summary>
/// The first-order (linear) part of a factorization machine and of Wide &amp; Deep's wide model: one
/// weight per id of every table, shared by every feature naming the table (like the embeddings),
/// keys <c>{table}.weight</c> [V, 1] with row 0 (padding) at zero.
/// y = Σ_sparse w[id] + Σ_{sequences q} Σ_{real t} w[q_t] → [B]: a linear model over one-hot and
/// multi-hot ids (a sequence counts every real position, whatever the deep part's pooling).
/// </summary>
public sealed class FirstOrder : Module
{
    private readonly FeatureSchema _schema;
    private readonly Dictionary<string, Embedding> _weights = new();

    public FirstOrder(FeatureSchema schema, Rng rng, float initStd)
    {
        _schema = schema;
        foreach (var t in schema.Tables) _weights[t.Name] = RegisterModule(t.Name, new Embedding(t.Vocab, 1, rng, sparseGrad: true, initStd));
    }

    /// <summary>The linear term [B] over the sparse features and the sequences <paramref name="included"/> keeps.</summary>
    public Tensor Forward(ModelInput x, Func<string, bool> included)
    {
        Tensor? sum = null;
        foreach (var s in _schema.Sparse) sum = Add(sum, _weights[s.Table].Forward(x.Sparse(s.Name)));                                  // [B, 1]
        foreach (var q in _schema.Sequences)
            if (included(q.Name))
            {
                var (ids, mask, _) = x.Sequence(q.Name);
                sum = Add(sum, F.EmbeddingBag(_weights[q.Table].Weight, ids, mask, F.Pooling.Sum));                                    // [B, 1]
            }
        return F.Reshape(sum ?? Tensor.ZerosTemp(new Shape(x.Count, 1)), new Shape(x.Count));
    }

    internal static Tensor Add(Tensor? a, Tensor b) => a is null ? b : F.Add(a, b);
}

/// <summary>
/// Second-order interactions between field embeddings f_1 … f_N, each [B, E] (the same E): the
/// baselines' fields are <see cref="CtrModel"/>'s profile (sparse embeddings, then the pooled sequences).
/// </summary>
public static class FieldInteractions
{
    /// <summary>Refuses a schema whose fields differ in width (inner products need one E); returns E.</summary>
    public static int CommonWidth(FeatureSchema schema, Func<string, bool> included, string model)
    {
        var widths = schema.Sparse.Select(s => (s.Name, schema.Table(s.Table).Dim))
            .Concat(schema.Sequences.Where(q => included(q.Name)).Select(q => (q.Name, schema.Table(q.Table).Dim))).ToList();
        if (widths.Count < 2) throw new SchemaException($"{model} needs at least two fields (sparse features or sequences), got {widths.Count}");
        var other = widths.FirstOrDefault(w => w.Dim != widths[0].Dim);
        if (other.Name is not null)
            throw new SchemaException($"{model} takes inner products of field embeddings, so every field needs the same width: '{widths[0].Name}' has {widths[0].Dim}, '{other.Name}' has {other.Dim}");
        return widths[0].Dim;
    }

    /// <summary>
    /// PNN's inner products (Qu et al. 2016, §3.1, IPNN): p_ij = ⟨f_i, f_j⟩ for i &lt; j, i outer →
    /// [B, N(N−1)/2], as one batched product F·Fᵀ [B, N, N] and a gather of its upper triangle.
    /// </summary>
    public static Tensor InnerProducts(List<Tensor> fields)
    {
        int n = fields.Count, b = fields[0].Shape[0], e = fields[0].Shape[1], pairs = n * (n - 1) / 2;
        var stacked = F.Reshape(F.ConcatLast(fields), new Shape(b, n, e));                                   // [B, N, E]
        var gram = F.MatMul(stacked, stacked, transB: true);                                                // [B, N, N]
        var upper = Arena.Ints(b * pairs);
        for (int r = 0, k = 0; r < b; r++)
            for (int i = 0; i < n; i++)
                for (int j = i + 1; j < n; j++) upper[k++] = (r * n + i) * n + j;
        return F.Reshape(F.GatherRows(F.Reshape(gram, new Shape(b * n * n, 1)), upper, b * pairs), new Shape(b, pairs));
    }

    /// <summary>
    /// A factorization machine's second-order term (Rendle 2010, Eq. 5; DeepFM §2.1):
    /// Σ_{i&lt;j} ⟨f_i, f_j⟩ = ½·Σ_e[(Σ_i f_ie)² − Σ_i f_ie²] → [B], in O(N·E).
    /// </summary>
    public static Tensor FactorizationMachine(List<Tensor> fields)
    {
        Tensor sum = fields[0], squares = F.Mul(fields[0], fields[0]);
        for (int i = 1; i < fields.Count; i++)
        {
            sum = F.Add(sum, fields[i]);                                                                    // [B, E]
            squares = F.Add(squares, F.Mul(fields[i], fields[i]));                                          // [B, E]
        }
        return F.MulScalar(F.SumLastAxis(F.Sub(F.Mul(sum, sum), squares)), 0.5f);                           // [B]
    }
}
