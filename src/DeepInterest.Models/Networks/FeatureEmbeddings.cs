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

    // Per table: the rows seen in the current batch (deduplicated with a stamp per row) and 1/n_j.
    // Training-only state (the loss's penalty term): one trainer steps a model at a time; scoring never reaches it.
    private readonly Dictionary<string, (int[] Rows, int[] Stamp, float[]? InvFreq)> _reg = new();
    private int _stamp;

    /// <summary>Counts how often each row of each table occurs in <paramref name="train"/> (for MBA: s_j = 1/n_j).</summary>
    public void FitFrequencies(Data.Batches.CtrDataset train)
    {
        foreach (var t in _schema.Tables)
        {
            var counts = new float[t.Vocab];
            foreach (var f in _schema.Sparse.Where(f => f.Table == t.Name)) foreach (var id in train.Sparse[f.Name]) counts[id]++;
            foreach (var q in _schema.Sequences.Where(q => q.Table == t.Name))
            {
                var col = train.Sequences[q.Name];
                for (int r = 0; r < train.Count; r++) foreach (var id in col.Row(r)) counts[id]++;
            }
            foreach (var q in _schema.Sessions.Where(q => q.Table == t.Name))
            {
                var col = train.Sessions[q.Name];
                for (int r = 0; r < train.Count; r++)
                    for (int k = 0; k < col.Counts[r]; k++) foreach (var id in col.Session(r, k)) counts[id]++;
            }
            for (int j = 0; j < counts.Length; j++) counts[j] = counts[j] > 0 ? 1f / counts[j] : 1f;
            _reg[t.Name] = (new int[t.Vocab], new int[t.Vocab], counts);
        }
    }

    /// <summary>
    /// Σ over tables of (λ/2)·Σ_{rows j in this batch} s_j‖w_j‖²: the DIN paper's mini-batch aware
    /// regularization with s_j = 1/n_j when frequencies were fitted (<paramref name="mba"/>), plain L2
    /// on the batch's rows otherwise.
    /// </summary>
    public Tensor? BatchPenalty(ModelInput x, float lambda, bool mba)
    {
        if (mba && _reg.Count == 0) throw new InvalidOperationException("MBA regularization needs row frequencies: call FitFrequencies(train) first (the trainer does).");
        _stamp++;
        Tensor? total = null;
        foreach (var t in _schema.Tables)
        {
            if (!_reg.TryGetValue(t.Name, out var reg)) _reg[t.Name] = reg = (new int[t.Vocab], new int[t.Vocab], null);
            int n = 0;
            // Rows of ids at real positions (all positions when real is empty), each row once per batch.
            void Mark(ReadOnlySpan<int> ids, ReadOnlySpan<bool> real)
            {
                for (int i = 0; i < ids.Length; i++)
                {
                    int id = ids[i];
                    if (id != 0 && (real.IsEmpty || real[i]) && reg.Stamp[id] != _stamp) { reg.Stamp[id] = _stamp; reg.Rows[n++] = id; }
                }
            }
            foreach (var f in _schema.Sparse) if (f.Table == t.Name) Mark(x.Sparse(f.Name).Span, default);
            foreach (var q in _schema.Sequences)
                if (q.Table == t.Name) Mark(x.Sequence(q.Name).Ids.Span, x.Sequence(q.Name).Mask.Values);
            foreach (var q in _schema.Sessions)
                if (q.Table == t.Name) Mark(x.Session(q.Name).Ids.Span, x.Session(q.Name).Items.Values);
            var p = F.RowPenalty(_tables[t.Name].Weight, reg.Rows, n, mba ? reg.InvFreq : null, lambda);
            total = total is null ? p : F.Add(total, p);
        }
        return total;
    }

    /// <summary>[B] → [B, E].</summary>
    public Tensor Sparse(ModelInput x, string feature) => _tables[_schema.SparseFeature(feature).Table].Forward(x.Sparse(feature));

    /// <summary>[B, T] pooled over its real positions → [B, E] (sum or mean in one pass; max through the lookup).</summary>
    public Tensor PooledSequence(ModelInput x, string feature, F.Pooling kind)
    {
        var (ids, mask, _) = x.Sequence(feature);
        return kind == F.Pooling.Max
            ? F.MaskedPool(Sequence(x, feature), mask, kind)
            : F.EmbeddingBag(_tables[_schema.Sequence(feature).Table].Weight, ids, mask, kind);
    }

    /// <summary>[B, T] → [B, T, E].</summary>
    public Tensor Sequence(ModelInput x, string feature) => _tables[_schema.Sequence(feature).Table].Forward(x.Sequence(feature).Ids);

    /// <summary>An attention group's targets side by side (the query): [B] each → [B, Σ E_p], in one lookup pass.</summary>
    public Tensor Query(ModelInput x, AttentionGroup group) => Group(group.Pairs, p => (_schema.SparseFeature(p.Target).Table, x.Sparse(p.Target)));

    /// <summary>A session group's targets side by side (DSIN's query): [B] each → [B, Σ E_p].</summary>
    public Tensor Query(ModelInput x, SessionGroup group) => Group(group.Pairs, p => (_schema.SparseFeature(p.Target).Table, x.Sparse(p.Target)));

    /// <summary>A session group's sessions side by side: [B, S, L] each → [B, S, L, Σ E_p].</summary>
    public Tensor Sessions(ModelInput x, SessionGroup group) => Group(group.Pairs, p => (_schema.Session(p.Sessions).Table, x.Session(p.Sessions).Ids));

    /// <summary>An attention group's histories side by side (the keys), or its negative histories: [B, T] each → [B, T, Σ E_p].</summary>
    public Tensor Keys(ModelInput x, AttentionGroup group, bool negative = false) =>
        Group(group.Pairs, p => negative
            ? (_schema.Sequence(p.NegativeHistory ?? throw new SchemaException($"attention group '{group.Name}': pair {p.Target} has no negative history.")).Table, x.Sequence(p.NegativeHistory).Ids)
            : (_schema.Sequence(p.History).Table, x.Sequence(p.History).Ids));

    private Tensor Group<TPair>(IReadOnlyList<TPair> pairs, Func<TPair, (string Table, IntTensor Ids)> pick)
    {
        var tables = new Tensor[pairs.Count];
        var ids = new IntTensor[pairs.Count];
        for (int i = 0; i < pairs.Count; i++)
        {
            var (table, column) = pick(pairs[i]);
            tables[i] = _tables[table].Weight;
            ids[i] = column;
        }
        return F.EmbeddingConcat(tables, ids);
    }
}
