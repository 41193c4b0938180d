using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace DeepInterest.Engine.Kernels;

/// <summary>
/// Fused element-wise kernels that TensorPrimitives does not have (mostly backward formulas).
/// Each processes whole vectors then a scalar tail; all write into <c>acc</c> by adding.
/// </summary>
public static class Simd
{
    /// <summary>acc += g · y · (1 − y)   (sigmoid backward).</summary>
    public static void SigmoidBackwardAdd(ReadOnlySpan<float> g, ReadOnlySpan<float> y, Span<float> acc)
    {
        int n = acc.Length, i = 0;
        ref float rg = ref MemoryMarshal.GetReference(g);
        ref float ry = ref MemoryMarshal.GetReference(y);
        ref float ra = ref MemoryMarshal.GetReference(acc);
        if (Vector.IsHardwareAccelerated)
        {
            var one = Vector<float>.One;
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
            {
                var vy = Vector.LoadUnsafe(ref ry, (nuint)i);
                var r = Vector.LoadUnsafe(ref ra, (nuint)i) + Vector.LoadUnsafe(ref rg, (nuint)i) * vy * (one - vy);
                r.StoreUnsafe(ref ra, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float yy = Unsafe.Add(ref ry, i);
            Unsafe.Add(ref ra, i) += Unsafe.Add(ref rg, i) * yy * (1f - yy);
        }
    }

    /// <summary>acc += g · (1 − y²)   (tanh backward).</summary>
    public static void TanhBackwardAdd(ReadOnlySpan<float> g, ReadOnlySpan<float> y, Span<float> acc)
    {
        int n = acc.Length, i = 0;
        ref float rg = ref MemoryMarshal.GetReference(g);
        ref float ry = ref MemoryMarshal.GetReference(y);
        ref float ra = ref MemoryMarshal.GetReference(acc);
        if (Vector.IsHardwareAccelerated)
        {
            var one = Vector<float>.One;
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
            {
                var vy = Vector.LoadUnsafe(ref ry, (nuint)i);
                var r = Vector.LoadUnsafe(ref ra, (nuint)i) + Vector.LoadUnsafe(ref rg, (nuint)i) * (one - vy * vy);
                r.StoreUnsafe(ref ra, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float yy = Unsafe.Add(ref ry, i);
            Unsafe.Add(ref ra, i) += Unsafe.Add(ref rg, i) * (1f - yy * yy);
        }
    }

    /// <summary>acc += x &gt; 0 ? g : 0   (ReLU backward, from the input).</summary>
    public static void ReluBackwardAdd(ReadOnlySpan<float> g, ReadOnlySpan<float> x, Span<float> acc)
    {
        int n = acc.Length, i = 0;
        ref float rg = ref MemoryMarshal.GetReference(g);
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float ra = ref MemoryMarshal.GetReference(acc);
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
            {
                var mask = Vector.GreaterThan(Vector.LoadUnsafe(ref rx, (nuint)i), Vector<float>.Zero);
                var r = Vector.LoadUnsafe(ref ra, (nuint)i) + Vector.ConditionalSelect(mask, Vector.LoadUnsafe(ref rg, (nuint)i), Vector<float>.Zero);
                r.StoreUnsafe(ref ra, (nuint)i);
            }
        }
        for (; i < n; i++)
            if (Unsafe.Add(ref rx, i) > 0f) Unsafe.Add(ref ra, i) += Unsafe.Add(ref rg, i);
    }

    /// <summary>Column sums: acc[j] += Σ_i m[i, j] for a row-major [rows, cols] matrix.</summary>
    public static void ColumnSumAdd(ReadOnlySpan<float> m, int rows, int cols, Span<float> acc)
    {
        for (int i = 0; i < rows; i++)
            System.Numerics.Tensors.TensorPrimitives.Add(acc, m.Slice(i * cols, cols), acc);
    }
}
