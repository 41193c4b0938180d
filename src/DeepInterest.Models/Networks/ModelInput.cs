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

    public int Count { get; private set; }

    /// <summary>Labels [B] (a temporary of the current arena).</summary>
    public Tensor Labels { get; private set; } = null!;

    public IntTensor Sparse(string name) => _sparse[name];
    public (IntTensor Ids, Mask Mask, IntTensor Lengths) Sequence(string name) => _seq[name];
    public Tensor Dense(string name) => _dense[name];

    /// <summary>Wraps <paramref name="batch"/>'s buffers (no copy for ids) for the current step.</summary>
    public void Load(FeatureSchema schema, Batch batch)
    {
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
