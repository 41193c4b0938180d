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

    /// <summary>
    /// GRU state update h' = h + g ⊙ (n − h), written to <paramref name="hNext"/>, with the weight g on the new
    /// candidate: 1 − z (<paramref name="kind"/> 0, PyTorch's GRU), the score a (1, AGRU) or a·z (2, AUGRU).
    /// </summary>
    public static void GruUpdate(ReadOnlySpan<float> n, ReadOnlySpan<float> h, ReadOnlySpan<float> z, int kind, float a, Span<float> hNext)
    {
        int len = hNext.Length, i = 0, w = Vector<float>.Count;
        var va = new Vector<float>(a);
        for (; i <= len - w; i += w)
        {
            var vn = new Vector<float>(n[i..]); var vh = new Vector<float>(h[i..]); var vz = new Vector<float>(z[i..]);
            var g = kind == 0 ? Vector<float>.One - vz : kind == 2 ? va * vz : va;
            (vh + g * (vn - vh)).CopyTo(hNext[i..]);
        }
        for (; i < len; i++)
        {
            float g = kind == 0 ? 1f - z[i] : kind == 2 ? a * z[i] : a;
            hNext[i] = h[i] + g * (n[i] - h[i]);
        }
    }

    /// <summary>
    /// One row of a GRU step's backward (kind 0 GRU, 1 AGRU, 2 AUGRU; gates = [r, z, n, hW] of H each).
    /// With d = dh' + gOut, g the weight on the new candidate and dg = d ⊙ (n − h):
    /// dh_prev = d ⊙ (1 − g); dpre_n = d ⊙ g ⊙ (1 − n²); dpre_r = dpre_n ⊙ hW ⊙ r(1 − r);
    /// dpre_z = −dg ⊙ z(1 − z) (GRU), 0 (AGRU), a·dg ⊙ z(1 − z) (AUGRU); dGI = [dpre_r, dpre_z, dpre_n],
    /// dGH = [dpre_r, dpre_z, dpre_n ⊙ r]. Returns ∂L/∂a: Σ dg (AGRU), Σ dg ⊙ z (AUGRU), 0 (GRU).
    /// </summary>
    public static float GruBackward(ReadOnlySpan<float> gates, ReadOnlySpan<float> hPrev, ReadOnlySpan<float> dh, ReadOnlySpan<float> gOut,
        int kind, float a, Span<float> dhPrev, Span<float> dgi, Span<float> dgh)
    {
        int h = hPrev.Length, i = 0, w = Vector<float>.Count;
        var rg = gates[..h]; var zg = gates.Slice(h, h); var ng = gates.Slice(2 * h, h); var hW = gates.Slice(3 * h, h);
        var one = Vector<float>.One; var va = new Vector<float>(a);
        var acc = Vector<float>.Zero;
        for (; i <= h - w; i += w)
        {
            var d = new Vector<float>(dh[i..]) + new Vector<float>(gOut[i..]);
            var z = new Vector<float>(zg[i..]); var n = new Vector<float>(ng[i..]); var r = new Vector<float>(rg[i..]);
            var g = kind == 0 ? one - z : kind == 1 ? va : va * z;
            var dg = d * (n - new Vector<float>(hPrev[i..]));
            (d * (one - g)).CopyTo(dhPrev[i..]);
            var dn = d * g * (one - n * n);
            var dr = dn * new Vector<float>(hW[i..]) * (r * (one - r));
            var dz = kind == 1 ? Vector<float>.Zero : dg * (z * (one - z));
            if (kind == 0) dz = -dz;
            else if (kind == 2) { acc += dg * z; dz *= va; }
            else acc += dg;
            dr.CopyTo(dgi[i..]); dz.CopyTo(dgi[(h + i)..]); dn.CopyTo(dgi[(2 * h + i)..]);
            dr.CopyTo(dgh[i..]); dz.CopyTo(dgh[(h + i)..]); (dn * r).CopyTo(dgh[(2 * h + i)..]);
        }
        float da = Vector.Sum(acc);
        for (; i < h; i++)
        {
            float d = dh[i] + gOut[i], z = zg[i], n = ng[i], r = rg[i];
            float g = kind == 0 ? 1f - z : kind == 1 ? a : a * z;
            float dg = d * (n - hPrev[i]);
            dhPrev[i] = d * (1f - g);
            float dn = d * g * (1f - n * n);
            float dr = dn * hW[i] * (r * (1f - r));
            float dz = kind == 1 ? 0f : dg * (z * (1f - z));
            if (kind == 0) dz = -dz;
            else if (kind == 2) { da += dg * z; dz *= a; }
            else da += dg;
            dgi[i] = dr; dgi[h + i] = dz; dgi[2 * h + i] = dn;
            dgh[i] = dr; dgh[h + i] = dz; dgh[2 * h + i] = dn * r;
        }
        return kind == 0 ? 0f : da;
    }

    /// <summary>
    /// Hints the CPU to fetch s[off .. off + w) into cache (no effect without SSE). Loops that visit
    /// scattered rows of large tables (embedding lookups, lazy optimizer updates) call it a few rows ahead.
    /// </summary>
    public static unsafe void Prefetch(ReadOnlySpan<float> s, int off, int w)
    {
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported || (uint)off >= (uint)s.Length) return;
        fixed (float* p = s)
        {
            for (int i = 0; i < w; i += 16) System.Runtime.Intrinsics.X86.Sse.Prefetch0(p + off + i);   // 16 floats per 64-byte line
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(p + off + w - 1);
        }
    }

    /// <summary>Column sums: acc[j] += Σ_i m[i, j] for a row-major [rows, cols] matrix.</summary>
    public static void ColumnSumAdd(ReadOnlySpan<float> m, int rows, int cols, Span<float> acc)
    {
        for (int i = 0; i < rows; i++)
            System.Numerics.Tensors.TensorPrimitives.Add(acc, m.Slice(i * cols, cols), acc);
    }
}
