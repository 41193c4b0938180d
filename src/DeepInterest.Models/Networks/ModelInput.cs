using DeepInterest.Data.Batches;
using DeepInterest.Data.Schema;
using DeepInterest.Engine;

namespace DeepInterest.Models.Networks;

/// <summary>
/// A batch in engine types: sparse ids [B], sequences [B, T] with their masks, dense values [B, 1]
/// and labels [B]. One object per model is refilled every step (the wrappers are reused).
/// </summary>
public sealed class ModelInput
{
    private readonly Dictionary<string, IntTensor> _sparse = new();
    private readonly Dictionary<string, (IntTensor Ids, Mask Mask, IntTensor Lengths)> _seq = new();
    private readonly Dictionary<string, Tensor> _dense = new();
    private readonly Dictionary<string, SessionInput> _sess = new();

    public int Count { get; private set; }

    /// <summary>
    /// Every row is the same user with a different candidate (a ranking request): all features but the
    /// candidate's are equal in every row, so a model may compute the user's side once on row 0 and
    /// repeat it (DIEN's interest extractor, DSIN's session interests). The result equals scoring the
    /// rows one by one, bit for bit. Set by the caller after <see cref="Load"/>; false by default.
    /// </summary>
    public bool SharedUser { get; set; }

    /// <summary>Labels [B] (a temporary of the current arena).</summary>
    public Tensor Labels { get; private set; } = null!;

    public IntTensor Sparse(string name) => _sparse[name];
    public (IntTensor Ids, Mask Mask, IntTensor Lengths) Sequence(string name) => _seq[name];
    public Tensor Dense(string name) => _dense[name];
    public SessionInput Session(string name) => _sess[name];

    /// <summary>Wraps <paramref name="batch"/>'s buffers (no copy for ids) for the current step.</summary>
    public void Load(FeatureSchema schema, Batch batch)
    {
        SharedUser = false;
        int b = Count = batch.Count;
        foreach (var s in schema.Sparse)
        {
            if (!_sparse.TryGetValue(s.Name, out var t)) _sparse[s.Name] = t = new IntTensor([0], new Shape(1));
            t.Reset(batch.Sparse(s.Name), new Shape(b));
        }
        foreach (var q in schema.Sequences)
        {
            var (ids, lengths, steps) = batch.Sequence(q.Name);
            if (!_seq.TryGetValue(q.Name, out var e)) _seq[q.Name] = e = (new IntTensor([0], new Shape(1)), Mask.FromLengths([], 1), new IntTensor([0], new Shape(1)));
            e.Ids.Reset(ids, new Shape(b, steps));
            e.Lengths.Reset(lengths, new Shape(b));
            e.Mask.SetFromLengths(lengths.AsSpan(0, b), steps);
        }
        foreach (var q in schema.Sessions)
        {
            var sb = batch.Sessions(q.Name);
            if (!_sess.TryGetValue(q.Name, out var e)) _sess[q.Name] = e = new SessionInput();
            e.Load(sb, b);
        }
        foreach (var d in schema.Dense)
        {
            var t = Tensor.Empty(new Shape(b, 1));
            batch.Dense(d.Name).AsSpan(0, b).CopyTo(t.Span);
            _dense[d.Name] = t;
        }
        Labels = Tensor.Empty(new Shape(b));
        batch.Labels.CopyTo(Labels.Span);
    }
}

/// <summary>
/// A session feature in engine types: ids [B, S, L], the item mask [B·S, L] (real behaviours of each
/// session), the session mask [B, S] (real sessions) and session counts [B].
/// </summary>
public sealed class SessionInput
{
    public IntTensor Ids { get; } = new([0], new Shape(1));
    public Mask Items { get; } = Mask.FromLengths([], 1);
    public Mask Sessions { get; } = Mask.FromLengths([], 1);
    public IntTensor Counts { get; } = new([0], new Shape(1));

    /// <summary>Row 0 of <paramref name="source"/> alone (the shared user of a ranking request), in the call's scratch.</summary>
    public static SessionInput FirstRow(SessionInput source)
    {
        int s = source.Sessions.Steps, l = source.Items.Steps;
        var row = new SessionInput();
        var ids = Arena.Ints(s * l);
        source.Ids.Span[..(s * l)].CopyTo(ids);
        row.Ids.Reset(ids, new Shape(1, s, l));
        var counts = Arena.Ints(1);
        counts[0] = source.Counts.Span[0];
        row.Counts.Reset(counts, new Shape(1));
        var lengths = Arena.Ints(s);
        for (int k = 0; k < s; k++) lengths[k] = source.Items.CountRow(k);
        row.Items.SetFromLengths(lengths.AsSpan(0, s), l);
        row.Sessions.SetFromLengths(counts.AsSpan(0, 1), s);
        return row;
    }

    internal void Load(SessionBatch sb, int b)
    {
        int s = sb.Sessions, l = sb.Steps;
        Ids.Reset(sb.Ids, new Shape(b, s, l));
        Counts.Reset(sb.Counts, new Shape(b));
        Items.SetFromLengths(sb.Lengths.AsSpan(0, b * s), l);
        Sessions.SetFromLengths(sb.Counts.AsSpan(0, b), s);
    }
}
