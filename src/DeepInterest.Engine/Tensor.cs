using System.Runtime.CompilerServices;
using DeepInterest.Engine.Autograd;

namespace DeepInterest.Engine;

/// <summary>
/// A float32, contiguous, row-major tensor of rank 0–4 with an optional gradient.
/// Parameters are plain heap tensors; temporaries created by ops come from the current
/// <see cref="Arena"/> when one is active. Views (reshape) share the storage of their source.
/// </summary>
public sealed class Tensor
{
    private float[] _data = Array.Empty<float>();
    private Tensor? _gradCache;

    /// <summary>The dimensions.</summary>
    public Shape Shape { get; private set; }

    /// <summary>Number of elements.</summary>
    public int Size { get; private set; }

    /// <summary>Whether backward computes a gradient for this tensor.</summary>
    public bool RequiresGrad { get; set; }

    /// <summary>The accumulated dense gradient, or null before any backward reached this tensor.</summary>
    public Tensor? Grad { get; set; }

    /// <summary>
    /// For embedding tables created with sparse gradients: the rows touched by the last backward
    /// pass and their gradients. Optimizers consume it; <see cref="ZeroGrad"/> clears it.
    /// </summary>
    public RowSparseGrad? SparseGrad { get; set; }

    /// <summary>True when the gradient of this tensor is kept row-sparse (embedding tables).</summary>
    public bool HasSparseGrad { get; set; }

    /// <summary>Index of the tape entry that produced this tensor, or -1.</summary>
    internal int TapeIndex = -1;

    internal bool OwnsData { get; private set; } = true;
    internal bool IsTemp { get; private set; }
    internal bool GradFromArena { get; private set; }

    internal Tensor() { }

    /// <summary>Creates a zero-filled heap tensor (not from any arena).</summary>
    public Tensor(Shape shape, bool requiresGrad = false)
    {
        Shape = shape;
        Size = shape.Size;
        _data = new float[Size];
        RequiresGrad = requiresGrad;
    }

    /// <summary>Wraps <paramref name="data"/> (not copied) with the given shape.</summary>
    public Tensor(float[] data, Shape shape, bool requiresGrad = false)
    {
        if (data.Length < shape.Size)
            throw new ArgumentException($"Buffer of {data.Length} floats is too small for shape {shape} ({shape.Size} elements).");
        Shape = shape;
        Size = shape.Size;
        _data = data;
        RequiresGrad = requiresGrad;
    }

    /// <summary>The underlying array; it may be longer than <see cref="Size"/> (pooled storage).</summary>
    public float[] Buffer => _data;

    /// <summary>The elements.</summary>
    public Span<float> Span
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(_data, 0, Size);
    }

    public int Rank => Shape.Rank;
    public int Dim(int axis) => Shape[axis];

    // ---- factories -------------------------------------------------------------------------

    /// <summary>A heap tensor holding a copy of <paramref name="values"/>.</summary>
    public static Tensor FromArray(float[] values, Shape shape, bool requiresGrad = false)
    {
        if (values.Length != shape.Size)
            throw new ArgumentException($"{values.Length} values do not fill shape {shape} ({shape.Size} elements).");
        return new Tensor((float[])values.Clone(), shape, requiresGrad);
    }

    public static Tensor FromArray(float[] values, params int[] shape) => FromArray(values, Shape.Of(shape));

    public static Tensor Zeros(Shape shape, bool requiresGrad = false) => new(shape, requiresGrad);

    public static Tensor Full(Shape shape, float value, bool requiresGrad = false)
    {
        var t = new Tensor(shape, requiresGrad);
        t.Span.Fill(value);
        return t;
    }

    public static Tensor Scalar(float value) => Full(Shape.Scalar, value);

    /// <summary>
    /// An output buffer for an op: rented from the current arena (contents undefined) or, with
    /// no arena, a new zeroed heap tensor.
    /// </summary>
    public static Tensor Empty(Shape shape) =>
        Arena.Current is { } a ? a.RentTensor(shape, zero: false) : new Tensor(shape);

    /// <summary>Like <see cref="Empty"/> but guaranteed zero-filled.</summary>
    public static Tensor ZerosTemp(Shape shape) =>
        Arena.Current is { } a ? a.RentTensor(shape, zero: true) : new Tensor(shape);

    /// <summary>A tensor sharing this tensor's storage with another shape of the same size.</summary>
    internal Tensor ViewAs(Shape shape)
    {
        if (shape.Size != Size) throw new ArgumentException($"Cannot view {Shape} ({Size} elements) as {shape} ({shape.Size} elements).");
        return Arena.Current is { } a ? a.RentView(_data, shape) : new Tensor(_data, shape);
    }

    // ---- gradient access ---------------------------------------------------------------------

    /// <summary>
    /// The gradient buffer, created zero-filled on first use. Backward steps add into it:
    /// gradients accumulate, never overwrite.
    /// </summary>
    public Span<float> GradSpan()
    {
        if (Grad is null)
        {
            if (IsTemp && Arena.Current is { } a)
            {
                _gradCache ??= new Tensor();
                _gradCache.ResetTemp(a.RentBuffer(Size, zero: true), Shape, Size, ownsData: false);
                Grad = _gradCache;
                GradFromArena = true;
            }
            else
            {
                Grad = new Tensor(Shape);
            }
        }
        return Grad.Span;
    }

    /// <summary>Clears the dense gradient (kept allocated) and the sparse gradient.</summary>
    public void ZeroGrad()
    {
        Grad?.Span.Clear();
        SparseGrad?.Clear();
    }

    /// <summary>Runs reverse-mode differentiation from this scalar (or, with <paramref name="seed"/>, any tensor).</summary>
    public void Backward(Tensor? seed = null) => Tape.Backward(this, seed);

    // ---- pooling -----------------------------------------------------------------------------

    internal void ResetTemp(float[] data, Shape shape, int size, bool ownsData)
    {
        _data = data;
        Shape = shape;
        Size = size;
        OwnsData = ownsData;
        IsTemp = true;
        RequiresGrad = false;
        Grad = null;
        GradFromArena = false;
        TapeIndex = -1;
    }

    internal void ReleaseTemp()
    {
        _data = Array.Empty<float>();
        Grad = null;
        GradFromArena = false;
        RequiresGrad = false;
        TapeIndex = -1;
    }

    // ---- convenience -------------------------------------------------------------------------

    public float[] ToArray() => Span.ToArray();

    /// <summary>The value of a one-element tensor.</summary>
    public float Item()
    {
        if (Size != 1) throw new InvalidOperationException($"Item() needs a one-element tensor, got shape {Shape}.");
        return _data[0];
    }

    /// <summary>Copies values into this tensor (sizes must match).</summary>
    public void CopyFrom(ReadOnlySpan<float> values)
    {
        if (values.Length != Size) throw new ArgumentException($"Cannot copy {values.Length} values into tensor of shape {Shape}.");
        values.CopyTo(Span);
    }

    public override string ToString() => $"Tensor{Shape}{(RequiresGrad ? " requires_grad" : "")}";

    public static Tensor operator +(Tensor a, Tensor b) => F.Add(a, b);
    public static Tensor operator -(Tensor a, Tensor b) => F.Sub(a, b);
    public static Tensor operator *(Tensor a, Tensor b) => F.Mul(a, b);
    public static Tensor operator /(Tensor a, Tensor b) => F.Div(a, b);
    public static Tensor operator +(Tensor a, float s) => F.AddScalar(a, s);
    public static Tensor operator -(Tensor a, float s) => F.AddScalar(a, -s);
    public static Tensor operator *(Tensor a, float s) => F.MulScalar(a, s);
    public static Tensor operator *(float s, Tensor a) => F.MulScalar(a, s);
    public static Tensor operator -(Tensor a) => F.MulScalar(a, -1f);
}

/// <summary>
/// A row-sparse gradient of a 2-D table [V, E]: the distinct rows touched in a step, in first-touch
/// order, and one gradient row each. Buffers grow and are reused across steps.
/// </summary>
public sealed class RowSparseGrad
{
    private int[] _rows = new int[64];
    private float[] _values;
    private int[] _slotOfRow;

    public RowSparseGrad(int vocab, int width)
    {
        Vocab = vocab;
        Width = width;
        _values = new float[64 * width];
        _slotOfRow = new int[vocab];
        _slotOfRow.AsSpan().Fill(-1);
    }

    public int Vocab { get; }
    public int Width { get; }

    /// <summary>Number of distinct rows with a gradient.</summary>
    public int Count { get; private set; }

    /// <summary>Row indices, one per slot.</summary>
    public ReadOnlySpan<int> Rows => _rows.AsSpan(0, Count);

    /// <summary>The gradient row held in <paramref name="slot"/>.</summary>
    public Span<float> Values(int slot) => _values.AsSpan(slot * Width, Width);

    /// <summary>The gradient row for table row <paramref name="row"/>, created zero-filled on first use.</summary>
    public Span<float> RowGrad(int row)
    {
        int slot = _slotOfRow[row];
        if (slot < 0)
        {
            slot = Count++;
            if (slot == _rows.Length)
            {
                Array.Resize(ref _rows, _rows.Length * 2);
                Array.Resize(ref _values, _values.Length * 2);
            }
            _rows[slot] = row;
            _slotOfRow[row] = slot;
            _values.AsSpan(slot * Width, Width).Clear();
        }
        return _values.AsSpan(slot * Width, Width);
    }

    /// <summary>Slot of a table row, or -1 when the row has no gradient.</summary>
    public int SlotOf(int row) => _slotOfRow[row];

    public void Clear()
    {
        for (int i = 0; i < Count; i++) _slotOfRow[_rows[i]] = -1;
        Count = 0;
    }

    /// <summary>Adds this gradient into a dense [V, E] buffer.</summary>
    public void AddToDense(Span<float> dense)
    {
        for (int s = 0; s < Count; s++)
        {
            var dst = dense.Slice(_rows[s] * Width, Width);
            System.Numerics.Tensors.TensorPrimitives.Add(dst, Values(s), dst);
        }
    }
}
