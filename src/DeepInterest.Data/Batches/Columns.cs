using System.Numerics.Tensors;
using DeepInterest.Data.Schema;

namespace DeepInterest.Data.Batches;

/// <summary>A sequence column: row r holds <c>Ids[r·MaxLength .. r·MaxLength + Lengths[r])</c>, padded with 0.</summary>
public sealed class SequenceColumn(int rows, int maxLength)
{
    public int MaxLength { get; } = maxLength;
    public int[] Ids { get; } = new int[rows * maxLength];
    public int[] Lengths { get; } = new int[rows];
    public ReadOnlySpan<int> Row(int r) => Ids.AsSpan(r * MaxLength, Lengths[r]);
}

/// <summary>
/// A session column (DSIN): row r holds up to S sessions, oldest first; sessions 0 … Counts[r]−1 are
/// real and non-empty, session s of row r holds <c>Lengths[r·S + s]</c> ids at
/// <c>Ids[(r·S + s)·L …]</c>, padded with 0.
/// </summary>
public sealed class SessionColumn(int rows, int maxSessions, int maxLength)
{
    public int MaxSessions { get; } = maxSessions;
    public int MaxLength { get; } = maxLength;
    public int[] Ids { get; } = new int[rows * maxSessions * maxLength];
    public int[] Lengths { get; } = new int[rows * maxSessions];
    public int[] Counts { get; } = new int[rows];
    public ReadOnlySpan<int> Session(int r, int s) => Ids.AsSpan((r * MaxSessions + s) * MaxLength, Lengths[r * MaxSessions + s]);
}

/// <summary>
/// An encoded dataset held column by column: one int[] per sparse feature, a <see cref="SequenceColumn"/>
/// per sequence feature, a <see cref="SessionColumn"/> per session feature, one float[] per dense feature, labels and user ids (for GAUC).
/// </summary>
public sealed class CtrDataset
{
    public CtrDataset(FeatureSchema schema, int count)
    {
        Schema = schema.Validate();
        Count = count;
        foreach (var s in schema.Sparse) Sparse[s.Name] = new int[count];
        foreach (var d in schema.Dense) Dense[d.Name] = new float[count];
        foreach (var q in schema.Sequences) Sequences[q.Name] = new SequenceColumn(count, q.MaxLength);
        foreach (var q in schema.Sessions) Sessions[q.Name] = new SessionColumn(count, q.MaxSessions, q.MaxLength);
        Labels = new float[count];
        UserIds = new int[count];
    }

    public FeatureSchema Schema { get; }
    public int Count { get; }
    public Dictionary<string, int[]> Sparse { get; } = new();
    public Dictionary<string, float[]> Dense { get; } = new();
    public Dictionary<string, SequenceColumn> Sequences { get; } = new();
    public Dictionary<string, SessionColumn> Sessions { get; } = new();
    public float[] Labels { get; }
    public int[] UserIds { get; }

    /// <summary>Rows [start, start + count) as a new dataset (for splits).</summary>
    public CtrDataset Take(IReadOnlyList<int> rows)
    {
        var d = new CtrDataset(Schema, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            int r = rows[i];
            foreach (var (k, v) in Sparse) d.Sparse[k][i] = v[r];
            foreach (var (k, v) in Dense) d.Dense[k][i] = v[r];
            foreach (var (k, v) in Sequences)
            {
                var dst = d.Sequences[k];
                dst.Lengths[i] = v.Lengths[r];
                v.Ids.AsSpan(r * v.MaxLength, v.MaxLength).CopyTo(dst.Ids.AsSpan(i * v.MaxLength));
            }
            foreach (var (k, v) in Sessions)
            {
                var dst = d.Sessions[k];
                int s = v.MaxSessions, l = v.MaxLength;
                dst.Counts[i] = v.Counts[r];
                v.Lengths.AsSpan(r * s, s).CopyTo(dst.Lengths.AsSpan(i * s));
                v.Ids.AsSpan(r * s * l, s * l).CopyTo(dst.Ids.AsSpan(i * s * l));
            }
            d.Labels[i] = Labels[r];
            d.UserIds[i] = UserIds[r];
        }
        return d;
    }

    /// <summary>Checks every id against its table's vocabulary; throws naming feature and row.</summary>
    public void CheckIds()
    {
        if (QuickCheck()) return;
        DetailedCheck();
    }

    /// <summary>Vectorized range check of whole columns (padding included); false sends the caller to the row-by-row check for its message.</summary>
    private bool QuickCheck()
    {
        static bool In(int[] a, int lo, int hiExclusive) => a.Length == 0 || (TensorPrimitives.Min<int>(a) >= lo && TensorPrimitives.Max<int>(a) < hiExclusive);
        foreach (var s in Schema.Sparse) if (!In(Sparse[s.Name], 0, Schema.Table(s.Table).Vocab)) return false;
        foreach (var q in Schema.Sequences)
            if (!In(Sequences[q.Name].Ids, 0, Schema.Table(q.Table).Vocab) || !In(Sequences[q.Name].Lengths, 0, q.MaxLength + 1)) return false;
        // Sessions carry a structural rule (real sessions first) that the detailed check enforces.
        return Schema.Sessions.Count == 0;
    }

    private void DetailedCheck()
    {
        foreach (var s in Schema.Sparse)
        {
            int v = Schema.Table(s.Table).Vocab;
            var col = Sparse[s.Name];
            for (int r = 0; r < Count; r++)
                if ((uint)col[r] >= (uint)v) throw new SchemaException($"feature '{s.Name}': row {r} has id {col[r]} outside [0, {v})");
        }
        foreach (var q in Schema.Sequences)
        {
            int v = Schema.Table(q.Table).Vocab;
            var col = Sequences[q.Name];
            for (int r = 0; r < Count; r++)
            {
                if (col.Lengths[r] < 0 || col.Lengths[r] > q.MaxLength) throw new SchemaException($"feature '{q.Name}': row {r} has length {col.Lengths[r]} outside [0, {q.MaxLength}]");
                foreach (var id in col.Row(r))
                    if ((uint)id >= (uint)v) throw new SchemaException($"feature '{q.Name}': row {r} has id {id} outside [0, {v})");
            }
        }
        foreach (var q in Schema.Sessions)
        {
            int v = Schema.Table(q.Table).Vocab;
            var col = Sessions[q.Name];
            for (int r = 0; r < Count; r++)
            {
                int count = col.Counts[r];
                if (count < 0 || count > q.MaxSessions) throw new SchemaException($"feature '{q.Name}': row {r} has {count} sessions, outside [0, {q.MaxSessions}]");
                for (int s = 0; s < q.MaxSessions; s++)
                {
                    int len = col.Lengths[r * q.MaxSessions + s];
                    if (s < count ? len < 1 || len > q.MaxLength : len != 0)
                        throw new SchemaException($"feature '{q.Name}': row {r} session {s} has length {len}; the first {count} sessions must hold 1 … {q.MaxLength} ids and the rest none");
                    foreach (var id in col.Session(r, s))
                        if ((uint)id >= (uint)v) throw new SchemaException($"feature '{q.Name}': row {r} has id {id} outside [0, {v})");
                }
            }
        }
    }
}
