using System.Runtime.CompilerServices;

namespace DeepInterest.Engine;

/// <summary>
/// The dimensions of a contiguous row-major tensor, rank 0 to 4, held inline so that creating a
/// shape never allocates (a training step creates thousands of them).
/// </summary>
public readonly struct Shape : IEquatable<Shape>
{
    public const int MaxRank = 4;
    private readonly int _d0, _d1, _d2, _d3;

    /// <summary>Number of dimensions (0 for a scalar).</summary>
    public int Rank { get; }

    public Shape(int d0) : this(1, d0, 0, 0, 0) { }
    public Shape(int d0, int d1) : this(2, d0, d1, 0, 0) { }
    public Shape(int d0, int d1, int d2) : this(3, d0, d1, d2, 0) { }
    public Shape(int d0, int d1, int d2, int d3) : this(4, d0, d1, d2, d3) { }

    private Shape(int rank, int d0, int d1, int d2, int d3)
    {
        if (d0 < 0 || d1 < 0 || d2 < 0 || d3 < 0)
            throw new ArgumentException($"Shape dimensions must be non-negative, got ({d0}, {d1}, {d2}, {d3}) for rank {rank}.");
        Rank = rank; _d0 = d0; _d1 = d1; _d2 = d2; _d3 = d3;
    }

    public static Shape Scalar => default;

    /// <summary>Builds a shape from a span of dimensions (rank ≤ 4).</summary>
    public static Shape Of(ReadOnlySpan<int> dims) => dims.Length switch
    {
        0 => default,
        1 => new Shape(dims[0]),
        2 => new Shape(dims[0], dims[1]),
        3 => new Shape(dims[0], dims[1], dims[2]),
        4 => new Shape(dims[0], dims[1], dims[2], dims[3]),
        _ => throw new ArgumentException($"Tensors have at most {MaxRank} dimensions, got {dims.Length}."),
    };

    public int this[int axis]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if (axis < 0) axis += Rank;
            if ((uint)axis >= (uint)Rank) throw new ArgumentOutOfRangeException(nameof(axis), $"axis {axis} out of range for rank {Rank}");
            return axis switch { 0 => _d0, 1 => _d1, 2 => _d2, _ => _d3 };
        }
    }

    /// <summary>Total number of elements (1 for a scalar).</summary>
    public int Size
    {
        get
        {
            long s = 1;
            for (int i = 0; i < Rank; i++) s *= this[i];
            if (s > int.MaxValue) throw new OverflowException($"Tensor of shape {this} has more than {int.MaxValue} elements.");
            return (int)s;
        }
    }

    /// <summary>The last dimension (1 for a scalar).</summary>
    public int Last => Rank == 0 ? 1 : this[Rank - 1];

    /// <summary>Product of all dimensions but the last: the number of rows when seen as a matrix.</summary>
    public int Rows
    {
        get
        {
            int r = 1;
            for (int i = 0; i < Rank - 1; i++) r *= this[i];
            return r;
        }
    }

    /// <summary>Returns a copy with the last dimension replaced.</summary>
    public Shape WithLast(int last) => Rank switch
    {
        0 or 1 => new Shape(last),
        2 => new Shape(_d0, last),
        3 => new Shape(_d0, _d1, last),
        _ => new Shape(_d0, _d1, _d2, last),
    };

    /// <summary>Returns a copy with the last dimension removed.</summary>
    public Shape DropLast() => Rank switch
    {
        0 => throw new InvalidOperationException("A scalar has no last dimension."),
        1 => default,
        2 => new Shape(_d0),
        3 => new Shape(_d0, _d1),
        _ => new Shape(_d0, _d1, _d2),
    };

    /// <summary>Returns a copy with one more trailing dimension.</summary>
    public Shape Append(int d) => Rank switch
    {
        0 => new Shape(d),
        1 => new Shape(_d0, d),
        2 => new Shape(_d0, _d1, d),
        3 => new Shape(_d0, _d1, _d2, d),
        _ => throw new InvalidOperationException($"Cannot append a dimension to rank-{MaxRank} shape {this}."),
    };

    public int[] ToArray()
    {
        var a = new int[Rank];
        for (int i = 0; i < Rank; i++) a[i] = this[i];
        return a;
    }

    public bool Equals(Shape o) => Rank == o.Rank && _d0 == o._d0 && _d1 == o._d1 && _d2 == o._d2 && _d3 == o._d3;
    public override bool Equals(object? obj) => obj is Shape s && Equals(s);
    public override int GetHashCode() => HashCode.Combine(Rank, _d0, _d1, _d2, _d3);
    public static bool operator ==(Shape a, Shape b) => a.Equals(b);
    public static bool operator !=(Shape a, Shape b) => !a.Equals(b);

    public override string ToString()
    {
        var parts = new string[Rank];
        for (int i = 0; i < Rank; i++) parts[i] = this[i].ToString();
        return "[" + string.Join(", ", parts) + "]";
    }
}
