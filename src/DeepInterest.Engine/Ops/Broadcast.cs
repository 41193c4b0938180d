namespace DeepInterest.Engine;

/// <summary>
/// NumPy broadcasting of two shapes (aligned from the right, size-1 or missing axes stretch),
/// as a 4-D loop nest with per-operand strides that are 0 along stretched axes.
/// </summary>
internal readonly struct BroadcastPlan
{
    public readonly Shape Out;
    public readonly int O0, O1, O2, O3;
    public readonly int A0, A1, A2, A3;
    public readonly int B0, B1, B2, B3;

    public BroadcastPlan(Shape a, Shape b, string op)
    {
        int rank = Math.Max(a.Rank, b.Rank);
        Span<int> o = stackalloc int[4], sa = stackalloc int[4], sb = stackalloc int[4];
        Span<int> da = stackalloc int[4], db = stackalloc int[4];
        for (int i = 0; i < 4; i++)
        {
            int ia = a.Rank - 4 + i, ib = b.Rank - 4 + i;
            da[i] = ia >= 0 ? a[ia] : 1;
            db[i] = ib >= 0 ? b[ib] : 1;
            if (da[i] != db[i] && da[i] != 1 && db[i] != 1)
                throw new ArgumentException($"{op}: shapes {a} and {b} cannot be broadcast together.");
            o[i] = Math.Max(da[i], db[i]);
            if (da[i] == 0 || db[i] == 0) o[i] = 0;
        }
        int strideA = 1, strideB = 1;
        for (int i = 3; i >= 0; i--)
        {
            sa[i] = da[i] == 1 ? 0 : strideA; strideA *= da[i];
            sb[i] = db[i] == 1 ? 0 : strideB; strideB *= db[i];
        }
        O0 = o[0]; O1 = o[1]; O2 = o[2]; O3 = o[3];
        A0 = sa[0]; A1 = sa[1]; A2 = sa[2]; A3 = sa[3];
        B0 = sb[0]; B1 = sb[1]; B2 = sb[2]; B3 = sb[3];
        Out = rank switch
        {
            0 => Shape.Scalar,
            1 => new Shape(o[3]),
            2 => new Shape(o[2], o[3]),
            3 => new Shape(o[1], o[2], o[3]),
            _ => new Shape(o[0], o[1], o[2], o[3]),
        };
    }
}
