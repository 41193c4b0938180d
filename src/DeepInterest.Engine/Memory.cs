using DeepInterest.Engine.Autograd;
using System.Numerics;

namespace DeepInterest.Engine;

/// <summary>
/// Size-bucketed free lists of float arrays (power-of-two capacities). A training step asks for
/// the same sizes every time, so after the first step every request is served from a free list
/// and the step allocates nothing on the managed heap.
/// </summary>
internal sealed class BufferPool<T>
{
    private const int MinLog2 = 4;
    private readonly Stack<T[]>[] _free = new Stack<T[]>[32];

    public BufferPool()
    {
        for (int i = 0; i < _free.Length; i++) _free[i] = new Stack<T[]>();
    }

    private static int Bucket(int size) =>
        size <= (1 << MinLog2) ? MinLog2 : 32 - BitOperations.LeadingZeroCount((uint)(size - 1));

    public T[] Rent(int size)
    {
        int b = Bucket(size);
        var stack = _free[b];
        return stack.Count > 0 ? stack.Pop() : new T[1 << b];
    }

    public void Return(T[] buffer) => _free[BitOperations.Log2((uint)buffer.Length)].Push(buffer);
}

/// <summary>
/// Owns every temporary tensor (and temporary gradient) created while it is current. Disposing
/// it returns their buffers and objects to pools, so the next step reuses them.
/// Tensors rented from an arena must not be used after it is disposed: copy results out first.
/// </summary>
public sealed class Arena : IDisposable
{
    [ThreadStatic] private static Arena? _current;
    [ThreadStatic] private static Arena? _cached;

    private readonly BufferPool<float> _buffers = new();
    private readonly BufferPool<int> _ints = new();
    private readonly BufferPool<bool> _bools = new();
    private readonly List<int[]> _liveInts = new();
    private readonly List<bool[]> _liveBools = new();
    private readonly Stack<Tensor> _freeTensors = new();
    private readonly List<Tensor> _live = new(1024);
    private Arena? _previous;
    private bool _active;

    /// <summary>The arena that temporaries on this thread are rented from, or null (plain allocation).</summary>
    public static Arena? Current => _current;

    /// <summary>
    /// Makes an arena current for the calling thread until the returned object is disposed.
    /// The same arena object (and its pools) is reused by later calls on this thread.
    /// </summary>
    public static Arena Begin()
    {
        var a = _cached ?? new Arena();
        _cached = null;
        if (a._active) throw new InvalidOperationException("Arena is already active.");
        a._active = true;
        a._previous = _current;
        _current = a;
        return a;
    }

    /// <summary>Number of tensors currently rented.</summary>
    public int LiveCount => _live.Count;

    internal Tensor RentTensor(Shape shape, bool zero)
    {
        int size = shape.Size;
        var t = _freeTensors.Count > 0 ? _freeTensors.Pop() : new Tensor();
        var data = _buffers.Rent(size);
        if (zero) Array.Clear(data, 0, size);
        t.ResetTemp(data, shape, size, ownsData: true);
        _live.Add(t);
        return t;
    }

    internal Tensor RentView(float[] data, Shape shape)
    {
        var t = _freeTensors.Count > 0 ? _freeTensors.Pop() : new Tensor();
        t.ResetTemp(data, shape, shape.Size, ownsData: false);
        _live.Add(t);
        return t;
    }

    internal float[] RentBuffer(int size, bool zero)
    {
        var b = _buffers.Rent(size);
        if (zero) Array.Clear(b, 0, size);
        return b;
    }

    internal void ReturnBuffer(float[] buffer) => _buffers.Return(buffer);

    /// <summary>
    /// Index scratch for one call (row lists, lengths, offsets) of at least <paramref name="size"/>
    /// elements, contents unspecified: owned by the current arena and reused after it is disposed
    /// (backward nodes may keep it until then), or a new array when no arena is active. Modules take
    /// their scratch from here rather than from fields, so one module can run on many threads at once.
    /// </summary>
    public static int[] Ints(int size) => _current is { } a ? Rent(a._ints, a._liveInts, size) : new int[size];

    /// <summary>Flag scratch (masks) for one call, owned like <see cref="Ints"/>.</summary>
    public static bool[] Bools(int size) => _current is { } a ? Rent(a._bools, a._liveBools, size) : new bool[size];

    private static T[] Rent<T>(BufferPool<T> pool, List<T[]> live, int size)
    {
        var buffer = pool.Rent(size);
        live.Add(buffer);
        return buffer;
    }

    public void Dispose()
    {
        if (!_active) return;
        Tape.Clear();
        foreach (var t in _live)
        {
            if (t.OwnsData) _buffers.Return(t.Buffer);
            if (t.GradFromArena && t.Grad is { } g) _buffers.Return(g.Buffer);
            t.ReleaseTemp();
            _freeTensors.Push(t);
        }
        _live.Clear();
        foreach (var b in _liveInts) _ints.Return(b);
        foreach (var b in _liveBools) _bools.Return(b);
        _liveInts.Clear();
        _liveBools.Clear();
        _active = false;
        _current = _previous;
        _previous = null;
        _cached ??= this;
    }
}
