namespace DeepInterest.Engine;

/// <summary>
/// Integer data (ids, lengths) with a shape. Wraps the caller's array without copying; an op that
/// keeps it for backward relies on the caller not changing it before backward has run.
/// </summary>
public sealed class IntTensor
{
    public IntTensor(int[] data, Shape shape)
    {
        if (data.Length < shape.Size) throw new ArgumentException($"Buffer of {data.Length} ints is too small for shape {shape}.");
        Data = data;
        Shape = shape;
    }

    public IntTensor(int[] data) : this(data, new Shape(data.Length)) { }

    public int[] Data { get; private set; }
    public Shape Shape { get; private set; }
    public int Size => Shape.Size;
    public ReadOnlySpan<int> Span => Data.AsSpan(0, Shape.Size);

    /// <summary>Points this object at other data (lets batch loops reuse one object per feature).</summary>
    public void Reset(int[] data, Shape shape)
    {
        if (data.Length < shape.Size) throw new ArgumentException($"Buffer of {data.Length} ints is too small for shape {shape}.");
        Data = data;
        Shape = shape;
    }

    public override string ToString() => $"IntTensor{Shape}";
}

/// <summary>
/// Which positions of a padded [B, T] layout are real. Ops on [B, ..., T] or [B, T, ...] tensors
/// document which axes the mask addresses; masked positions are excluded explicitly (never
/// inferred from zero padding rows). Built from per-row lengths (prefix masks) or from values.
/// </summary>
public sealed class Mask
{
    private bool[] _values;

    public Mask(bool[] values, int batch, int steps)
    {
        if (batch < 0 || steps < 0 || values.Length < batch * steps)
            throw new ArgumentException($"Mask buffer of {values.Length} is too small for [{batch}, {steps}].");
        _values = values;
        Batch = batch;
        Steps = steps;
    }

    /// <summary>Rows B.</summary>
    public int Batch { get; private set; }

    /// <summary>Positions per row T.</summary>
    public int Steps { get; private set; }

    /// <summary>True where the position is real.</summary>
    public ReadOnlySpan<bool> Values => _values.AsSpan(0, Batch * Steps);

    /// <summary>The backing array (at least Batch × Steps long), for kernels that run on worker threads.</summary>
    internal bool[] Buffer => _values;

    public bool this[int b, int t] => _values[b * Steps + t];

    /// <summary>The real positions of row <paramref name="b"/>.</summary>
    public ReadOnlySpan<bool> Row(int b) => _values.AsSpan(b * Steps, Steps);

    /// <summary>Prefix mask: position t of row b is real when t &lt; lengths[b].</summary>
    public static Mask FromLengths(ReadOnlySpan<int> lengths, int steps)
    {
        var m = new Mask(new bool[lengths.Length * steps], lengths.Length, steps);
        m.SetFromLengths(lengths, steps);
        return m;
    }

    /// <summary>Refills this mask from lengths, growing the buffer only when needed (reuse across batches).</summary>
    public void SetFromLengths(ReadOnlySpan<int> lengths, int steps)
    {
        int n = lengths.Length * steps;
        if (_values.Length < n) _values = new bool[n];
        Batch = lengths.Length;
        Steps = steps;
        for (int b = 0; b < lengths.Length; b++)
        {
            int len = lengths[b];
            if (len < 0 || len > steps) throw new ArgumentException($"Length {len} of row {b} is outside [0, {steps}].");
            var row = _values.AsSpan(b * steps, steps);
            row[..len].Fill(true);
            row[len..].Fill(false);
        }
    }

    /// <summary>Number of real positions in row <paramref name="b"/>.</summary>
    public int CountRow(int b)
    {
        int c = 0;
        foreach (var v in Row(b)) if (v) c++;
        return c;
    }

    public override string ToString() => $"Mask[{Batch}, {Steps}]";
}
