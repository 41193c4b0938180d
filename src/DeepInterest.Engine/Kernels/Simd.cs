using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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
    /// One row of a GRU step (kind 0 GRU, 1 AGRU, 2 AUGRU) from its input and hidden projections
    /// gi, gh = [pre_r, pre_z, pre_n] (H each, biases included): r = σ(gi_r + gh_r),
    /// z = σ(gi_z + gh_z), n = tanh(gi_n + r ⊙ gh_n), h' = h + g ⊙ (n − h) with the weight g on the
    /// new candidate: 1 − z (PyTorch's GRU), the score a (AGRU) or a·z (AUGRU). Writes
    /// gates = [r, z, n, gh_n] for the backward and h' to <paramref name="hNext"/>.
    /// </summary>
    /// <remarks>
    /// One pass in registers: with H = 36 the seven library calls per row this replaces cost more in
    /// call overhead than their arithmetic. σ(x) = 1/(1 + eˣ⁻), tanh(x) = 1 − 2/(e²ˣ + 1), both exact
    /// at the saturated ends (e overflowing to ∞ gives 1 or −1).
    /// </remarks>
    public static void GruForward(ReadOnlySpan<float> gi, ReadOnlySpan<float> gh, ReadOnlySpan<float> h, int kind, float a,
        Span<float> gates, Span<float> hNext)
    {
        int len = h.Length, i = 0;
        ref float rgi = ref MemoryMarshal.GetReference(gi); ref float rgh = ref MemoryMarshal.GetReference(gh);
        ref float rh = ref MemoryMarshal.GetReference(h); ref float rgt = ref MemoryMarshal.GetReference(gates);
        ref float rn = ref MemoryMarshal.GetReference(hNext);
        if (Vector256.IsHardwareAccelerated && len >= 8)
        {
            var one = Vector256<float>.One; var two = Vector256.Create(2f); var va = Vector256.Create(a);
            // The last vector ends at len and may overlap the one before: each output element depends
            // only on the inputs at its own index, so recomputing it writes the same value. No scalar
            // tail (H = 36 would leave 4 elements paying 12 scalar exp/tanh calls per row).
            for (int next = 0; next < len; next += 8)
            {
                i = Math.Min(next, len - 8);
                var r = one / (one + Vector256.Exp(-(Vector256.LoadUnsafe(ref rgi, (nuint)i) + Vector256.LoadUnsafe(ref rgh, (nuint)i))));
                var z = one / (one + Vector256.Exp(-(Vector256.LoadUnsafe(ref rgi, (nuint)(len + i)) + Vector256.LoadUnsafe(ref rgh, (nuint)(len + i)))));
                var hw = Vector256.LoadUnsafe(ref rgh, (nuint)(2 * len + i));
                var n = one - two / (Vector256.Exp(two * (Vector256.LoadUnsafe(ref rgi, (nuint)(2 * len + i)) + r * hw)) + one);
                var hv = Vector256.LoadUnsafe(ref rh, (nuint)i);
                var g = kind == 0 ? one - z : kind == 2 ? va * z : va;
                r.StoreUnsafe(ref rgt, (nuint)i); z.StoreUnsafe(ref rgt, (nuint)(len + i));
                n.StoreUnsafe(ref rgt, (nuint)(2 * len + i)); hw.StoreUnsafe(ref rgt, (nuint)(3 * len + i));
                (hv + g * (n - hv)).StoreUnsafe(ref rn, (nuint)i);
            }
            return;
        }
        for (; i < len; i++)
        {
            float r = 1f / (1f + MathF.Exp(-(gi[i] + gh[i]))), z = 1f / (1f + MathF.Exp(-(gi[len + i] + gh[len + i])));
            float hw = gh[2 * len + i], n = MathF.Tanh(gi[2 * len + i] + r * hw);
            float g = kind == 0 ? 1f - z : kind == 2 ? a * z : a;
            gates[i] = r; gates[len + i] = z; gates[2 * len + i] = n; gates[3 * len + i] = hw;
            hNext[i] = h[i] + g * (n - h[i]);
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
