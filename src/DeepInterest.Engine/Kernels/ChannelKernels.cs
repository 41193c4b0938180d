using System.Numerics;
using System.Numerics.Tensors;

namespace DeepInterest.Engine.Kernels;

/// <summary>
/// Kernels for channel-last [rows, C] element-wise ops (BatchNorm, Dice, PReLU), fused into one
/// pass per row and split over threads by rows. Sums over rows go through fixed blocks of
/// <see cref="Block"/> rows — float sums in row order within a block, blocks combined in block
/// order by the caller — so every result is the same for any thread count. A row mask
/// (<c>bool[]</c>, null = all rows real) skips padded rows: they add nothing to any sum.
/// </summary>
/// <remarks>
/// The ops called <see cref="TensorPrimitives"/> once per row before; with C = 40 or 80 channels
/// the per-call overhead cost more than the arithmetic, and one thread did all of it.
/// </remarks>
internal static class ChannelKernels
{
    public const int Block = 256;

    public static int Blocks(int rows) => (rows + Block - 1) / Block;

    private static int RowGrain(int c, int elementsPerPart = Par.MinElementsPerPart) => Math.Max(1, elementsPerPart / Math.Max(1, c));

    /// <summary>Runs a kernel over rows of <paramref name="c"/> elements, split over threads when parts hold ≥ <paramref name="elementsPerPart"/> elements.</summary>
    public static void ForRows<T>(int rows, int c, ref T kernel, int elementsPerPart = Par.MinElementsPerPart) where T : struct, IRangeKernel =>
        Par.For(rows, RowGrain(c, elementsPerPart), ref kernel);

    public static void ForBlocks<T>(int rows, int c, ref T kernel) where T : struct, IRangeKernel =>
        Par.For(Blocks(rows), Math.Max(1, RowGrain(c) / Block), ref kernel);

    /// <summary>
    /// A thread's own copy of per-channel vectors (n of them, C each). Reading small shared arrays
    /// from two threads measured 3–5× slower than from one (a cache line shared with data another
    /// thread writes), so each kernel part copies its per-channel operands first.
    /// </summary>
    private static Span<float> Local(Span<float> scratch, int c, params ReadOnlySpan<float[]> sources)
    {
        for (int i = 0; i < sources.Length; i++) sources[i].AsSpan(0, c).CopyTo(scratch.Slice(i * c, c));
        return scratch;
    }

    private const int MaxStackChannels = 1024;

    /// <summary>
    /// acc[k] += Σ_r m[r, k] (a bias gradient), split over threads by row blocks; <paramref name="part"/>
    /// is scratch of at least Blocks(rows) × C floats.
    /// </summary>
    public static void ColumnSumAdd(float[] m, int rows, int c, float[] part, Span<float> acc)
    {
        int blocks = Blocks(rows);
        var k = new ColumnSums { X = m, Part = part, Rows = rows, C = c };
        ForBlocks(rows, c, ref k);
        Span<double> sum = c <= MaxStackChannels ? stackalloc double[c] : new double[c];
        sum.Clear();
        CombineBlocks(part, blocks, c, sum);
        for (int j = 0; j < c; j++) acc[j] += (float)sum[j];
    }

    /// <summary>acc[k] += Σ_b part[b, k] over blocks in order, in double.</summary>
    public static void CombineBlocks(ReadOnlySpan<float> part, int blocks, int c, Span<double> acc)
    {
        for (int b = 0; b < blocks; b++)
        {
            var p = part.Slice(b * c, c);
            for (int k = 0; k < c; k++) acc[k] += p[k];
        }
    }

    /// <summary>Part[b, k] = Σ over real rows r of block b of X[r, k], or of (X[r, k] − Mean[k])² when Mean is set.</summary>
    public struct ColumnSums : IRangeKernel
    {
        public float[] X, Part;
        public float[]? Mean;
        public bool[]? Mask;
        public int Rows, C;

        public void Run(int start, int end)
        {
            int c = C, w = Vector<float>.Count;
            var mean = Mean is null ? default : Local(c <= MaxStackChannels ? stackalloc float[c] : new float[c], c, Mean);
            for (int b = start; b < end; b++)
            {
                var acc = Part.AsSpan(b * c, c);
                acc.Clear();
                for (int r = b * Block, r1 = Math.Min(Rows, r + Block); r < r1; r++)
                {
                    if (Mask is not null && !Mask[r]) continue;
                    var x = X.AsSpan(r * c, c);
                    int k = 0;
                    if (Mean is null)
                    {
                        for (; k <= c - w; k += w) (new Vector<float>(acc[k..]) + new Vector<float>(x[k..])).CopyTo(acc[k..]);
                        for (; k < c; k++) acc[k] += x[k];
                    }
                    else
                    {
                        var m = mean;
                        for (; k <= c - w; k += w)
                        {
                            var d = new Vector<float>(x[k..]) - new Vector<float>(m[k..]);
                            (new Vector<float>(acc[k..]) + d * d).CopyTo(acc[k..]);
                        }
                        for (; k < c; k++) { float d = x[k] - m[k]; acc[k] += d * d; }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Y = XHat·Scale + Shift per channel with XHat = (X − Mean)·Inv; XHat is stored only when set
    /// (backward needs it). Padded rows get zeros.
    /// </summary>
    public struct NormalizeRows : IRangeKernel
    {
        public float[] X, Y, Mean, Inv, Scale, Shift;
        public float[]? XHat;
        public bool[]? Mask;
        public int C;

        public void Run(int start, int end)
        {
            int c = C, w = Vector<float>.Count;
            var local = Local(c <= MaxStackChannels ? stackalloc float[4 * c] : new float[4 * c], c, Mean, Inv, Scale, Shift);
            var m = local[..c]; var inv = local.Slice(c, c); var sc = local.Slice(2 * c, c); var sh = local.Slice(3 * c, c);
            for (int r = start; r < end; r++)
            {
                var y = Y.AsSpan(r * c, c);
                var xh = XHat is null ? default : XHat.AsSpan(r * c, c);
                if (Mask is not null && !Mask[r]) { y.Clear(); xh.Clear(); continue; }
                var x = X.AsSpan(r * c, c);
                int k = 0;
                for (; k <= c - w; k += w)
                {
                    var h = (new Vector<float>(x[k..]) - new Vector<float>(m[k..])) * new Vector<float>(inv[k..]);
                    if (XHat is not null) h.CopyTo(xh[k..]);
                    (h * new Vector<float>(sc[k..]) + new Vector<float>(sh[k..])).CopyTo(y[k..]);
                }
                for (; k < c; k++)
                {
                    float h = (x[k] - m[k]) * inv[k];
                    if (XHat is not null) xh[k] = h;
                    y[k] = h * sc[k] + sh[k];
                }
            }
        }
    }

    /// <summary>PartG[b, k] = Σ G[r, k] and PartGH[b, k] = Σ G[r, k]·XHat[r, k] over the real rows of block b.</summary>
    public struct GradSums : IRangeKernel
    {
        public float[] G, XHat, PartG, PartGH;
        public bool[]? Mask;
        public int Rows, C;

        public void Run(int start, int end)
        {
            int c = C, w = Vector<float>.Count;
            for (int b = start; b < end; b++)
            {
                var pg = PartG.AsSpan(b * c, c); var pgh = PartGH.AsSpan(b * c, c);
                pg.Clear(); pgh.Clear();
                for (int r = b * Block, r1 = Math.Min(Rows, r + Block); r < r1; r++)
                {
                    if (Mask is not null && !Mask[r]) continue;
                    var g = G.AsSpan(r * c, c); var h = XHat.AsSpan(r * c, c);
                    int k = 0;
                    for (; k <= c - w; k += w)
                    {
                        var vg = new Vector<float>(g[k..]);
                        (new Vector<float>(pg[k..]) + vg).CopyTo(pg[k..]);
                        (new Vector<float>(pgh[k..]) + vg * new Vector<float>(h[k..])).CopyTo(pgh[k..]);
                    }
                    for (; k < c; k++) { pg[k] += g[k]; pgh[k] += g[k] * h[k]; }
                }
            }
        }
    }

    /// <summary>DX[r] += Scale ⊙ (G[r] − A − XHat[r] ⊙ Bv) over the real rows (BatchNorm backward).</summary>
    public struct NormalizeBackwardRows : IRangeKernel
    {
        public float[] G, XHat, DX, Scale, A, Bv;
        public bool[]? Mask;
        public int C;

        public void Run(int start, int end)
        {
            int c = C, w = Vector<float>.Count;
            var local = Local(c <= MaxStackChannels ? stackalloc float[3 * c] : new float[3 * c], c, Scale, A, Bv);
            var sc = local[..c]; var a = local.Slice(c, c); var bv = local.Slice(2 * c, c);
            for (int r = start; r < end; r++)
            {
                if (Mask is not null && !Mask[r]) continue;
                var g = G.AsSpan(r * c, c); var h = XHat.AsSpan(r * c, c); var d = DX.AsSpan(r * c, c);
                int k = 0;
                for (; k <= c - w; k += w)
                {
                    var t = new Vector<float>(g[k..]) - new Vector<float>(a[k..]) - new Vector<float>(h[k..]) * new Vector<float>(bv[k..]);
                    (new Vector<float>(d[k..]) + t * new Vector<float>(sc[k..])).CopyTo(d[k..]);
                }
                for (; k < c; k++) d[k] += (g[k] - a[k] - h[k] * bv[k]) * sc[k];
            }
        }
    }

    /// <summary>Dice gate: P = σ(Z) (stored when P is set, else computed into Y), Y = X ⊙ (α + P ⊙ (1 − α)).</summary>
    public struct DiceGateRows : IRangeKernel
    {
        public float[] X, Z, Y, Alpha, OneMinusAlpha;
        public float[]? P;
        public int C;

        public void Run(int start, int end)
        {
            int c = C, w = Vector<float>.Count;
            var p = (P ?? Y).AsSpan(start * c, (end - start) * c);
            TensorPrimitives.Sigmoid(Z.AsSpan(start * c, (end - start) * c), p);
            var local = Local(c <= MaxStackChannels ? stackalloc float[2 * c] : new float[2 * c], c, Alpha, OneMinusAlpha);
            var a = local[..c]; var oma = local.Slice(c, c);
            for (int r = start; r < end; r++)
            {
                var x = X.AsSpan(r * c, c); var pr = (P ?? Y).AsSpan(r * c, c); var y = Y.AsSpan(r * c, c);
                int k = 0;
                for (; k <= c - w; k += w)
                    (new Vector<float>(x[k..]) * (new Vector<float>(a[k..]) + new Vector<float>(pr[k..]) * new Vector<float>(oma[k..]))).CopyTo(y[k..]);
                for (; k < c; k++) y[k] = x[k] * (a[k] + pr[k] * oma[k]);
            }
        }
    }

    /// <summary>
    /// Dice gate backward per block: with t = G ⊙ X, DX += G ⊙ (α + P(1 − α)), DZ += t ⊙ P(1 − P)(1 − α),
    /// PartA[b] = Σ t ⊙ (1 − P). Null outputs are skipped.
    /// </summary>
    public struct DiceBackwardBlocks : IRangeKernel
    {
        public float[] G, X, P, Alpha, OneMinusAlpha;
        public float[]? DX, DZ, PartA;
        public int Rows, C;

        public void Run(int start, int end)
        {
            int c = C, w = Vector<float>.Count;
            var local = Local(c <= MaxStackChannels ? stackalloc float[2 * c] : new float[2 * c], c, Alpha, OneMinusAlpha);
            var a = local[..c]; var oma = local.Slice(c, c);
            var one = Vector<float>.One;
            for (int b = start; b < end; b++)
            {
                var pa = PartA is null ? default : PartA.AsSpan(b * c, c);
                pa.Clear();
                for (int r = b * Block, r1 = Math.Min(Rows, r + Block); r < r1; r++)
                {
                    var g = G.AsSpan(r * c, c); var x = X.AsSpan(r * c, c); var p = P.AsSpan(r * c, c);
                    var dx = DX is null ? default : DX.AsSpan(r * c, c);
                    var dz = DZ is null ? default : DZ.AsSpan(r * c, c);
                    int k = 0;
                    for (; k <= c - w; k += w)
                    {
                        var vg = new Vector<float>(g[k..]); var vp = new Vector<float>(p[k..]); var vo = new Vector<float>(oma[k..]);
                        var t = vg * new Vector<float>(x[k..]);
                        if (DX is not null) (new Vector<float>(dx[k..]) + vg * (new Vector<float>(a[k..]) + vp * vo)).CopyTo(dx[k..]);
                        if (DZ is not null) (new Vector<float>(dz[k..]) + t * (vp * (one - vp) * vo)).CopyTo(dz[k..]);
                        if (PartA is not null) (new Vector<float>(pa[k..]) + t * (one - vp)).CopyTo(pa[k..]);
                    }
                    for (; k < c; k++)
                    {
                        float t = g[k] * x[k], pk = p[k];
                        if (DX is not null) dx[k] += g[k] * (a[k] + pk * oma[k]);
                        if (DZ is not null) dz[k] += t * (pk * (1f - pk) * oma[k]);
                        if (PartA is not null) pa[k] += t * (1f - pk);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Dice forward: x̂ = (X − Mean)·Inv, p = σ(x̂·Scale + Shift), Y = X ⊙ (α + p ⊙ (1 − α)); P = p when set.
    /// A padded row has z = 0 (p = ½), as BatchNorm's zero output gave. Chunks of rows go through z
    /// (into P or a scratch chunk), one TensorPrimitives.Sigmoid call and the gate while in cache: a
    /// sigmoid per vector (Vector.Exp, not inlined) cost twice as much.
    /// </summary>
    public struct DiceRows : IRangeKernel
    {
        public float[] X, Y, Mean, Inv, Scale, Shift, Alpha, OneMinusAlpha;
        public float[]? P;
        public bool[]? Mask;
        public int C;
        [ThreadStatic] private static float[]? _scratch;
        private const int ChunkElements = 4096;

        public void Run(int start, int end)
        {
            int c = C, w = Vector<float>.Count;
            var local = Local(c <= MaxStackChannels / 2 ? stackalloc float[6 * c] : new float[6 * c], c, Mean, Inv, Scale, Shift, Alpha, OneMinusAlpha);
            var m = local[..c]; var inv = local.Slice(c, c); var sc = local.Slice(2 * c, c); var sh = local.Slice(3 * c, c);
            var a = local.Slice(4 * c, c); var oma = local.Slice(5 * c, c);
            int chunk = Math.Max(1, ChunkElements / c);
            var scratch = P is null ? (_scratch is { } t && t.Length >= chunk * c ? t : (_scratch = new float[chunk * c])) : null;
            for (int r0 = start; r0 < end; r0 += chunk)
            {
                int r1 = Math.Min(end, r0 + chunk);
                var z = P is null ? scratch.AsSpan(0, (r1 - r0) * c) : P.AsSpan(r0 * c, (r1 - r0) * c);
                for (int r = r0; r < r1; r++)
                {
                    var zr = z.Slice((r - r0) * c, c);
                    if (Mask is not null && !Mask[r]) { zr.Clear(); continue; }
                    var x = X.AsSpan(r * c, c);
                    int k = 0;
                    for (; k <= c - w; k += w)
                        ((new Vector<float>(x[k..]) - new Vector<float>(m[k..])) * new Vector<float>(inv[k..]) * new Vector<float>(sc[k..]) + new Vector<float>(sh[k..])).CopyTo(zr[k..]);
                    for (; k < c; k++) zr[k] = (x[k] - m[k]) * inv[k] * sc[k] + sh[k];
                }
                TensorPrimitives.Sigmoid(z, z);
                for (int r = r0; r < r1; r++)
                {
                    var x = X.AsSpan(r * c, c); var pr = z.Slice((r - r0) * c, c); var y = Y.AsSpan(r * c, c);
                    int k = 0;
                    for (; k <= c - w; k += w)
                        (new Vector<float>(x[k..]) * (new Vector<float>(a[k..]) + new Vector<float>(pr[k..]) * new Vector<float>(oma[k..]))).CopyTo(y[k..]);
                    for (; k < c; k++) y[k] = x[k] * (a[k] + pr[k] * oma[k]);
                }
            }
        }
    }

    /// <summary>
    /// Dice backward sums per block, with t = G ⊙ X and u = t ⊙ P(1 − P)(1 − α) (the gradient at z):
    /// PartU[b] = Σ u, PartUX[b] = Σ u ⊙ x̂ over the real rows, PartA[b] = Σ t ⊙ (1 − P) over all rows.
    /// </summary>
    public struct DiceGradSums : IRangeKernel
    {
        public float[] G, X, P, Mean, Inv, OneMinusAlpha;
        public float[]? PartU, PartUX, PartA;
        public bool[]? Mask;
        public int Rows, C;

        public void Run(int start, int end)
        {
            int c = C, w = Vector<float>.Count;
            var local = Local(c <= MaxStackChannels ? stackalloc float[3 * c] : new float[3 * c], c, Mean, Inv, OneMinusAlpha);
            var m = local[..c]; var inv = local.Slice(c, c); var oma = local.Slice(2 * c, c);
            var one = Vector<float>.One;
            for (int b = start; b < end; b++)
            {
                var pu = PartU is null ? default : PartU.AsSpan(b * c, c);
                var pux = PartUX is null ? default : PartUX.AsSpan(b * c, c);
                var pa = PartA is null ? default : PartA.AsSpan(b * c, c);
                pu.Clear(); pux.Clear(); pa.Clear();
                for (int r = b * Block, r1 = Math.Min(Rows, r + Block); r < r1; r++)
                {
                    bool sumU = PartU is not null && (Mask is null || Mask[r]);
                    var g = G.AsSpan(r * c, c); var x = X.AsSpan(r * c, c); var p = P.AsSpan(r * c, c);
                    int k = 0;
                    for (; k <= c - w; k += w)
                    {
                        var vx = new Vector<float>(x[k..]); var vp = new Vector<float>(p[k..]);
                        var t = new Vector<float>(g[k..]) * vx;
                        if (sumU)
                        {
                            var u = t * (vp * (one - vp) * new Vector<float>(oma[k..]));
                            (new Vector<float>(pu[k..]) + u).CopyTo(pu[k..]);
                            (new Vector<float>(pux[k..]) + u * ((vx - new Vector<float>(m[k..])) * new Vector<float>(inv[k..]))).CopyTo(pux[k..]);
                        }
                        if (PartA is not null) (new Vector<float>(pa[k..]) + t * (one - vp)).CopyTo(pa[k..]);
                    }
                    for (; k < c; k++)
                    {
                        float t = g[k] * x[k], pk = p[k];
                        if (sumU)
                        {
                            float u = t * (pk * (1f - pk) * oma[k]);
                            pu[k] += u;
                            pux[k] += u * ((x[k] - m[k]) * inv[k]);
                        }
                        if (PartA is not null) pa[k] += t * (1f - pk);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Dice backward to x: DX += G ⊙ (α + P(1 − α)) + Scale ⊙ (u − A − x̂ ⊙ Bv) on real rows (the gate term
    /// alone on padded rows), with u and x̂ recomputed as in <see cref="DiceGradSums"/>.
    /// </summary>
    public struct DiceBackwardRows : IRangeKernel
    {
        public float[] G, X, P, Mean, Inv, Alpha, OneMinusAlpha, Scale, A, Bv, DX;
        public bool[]? Mask;
        public int C;

        public void Run(int start, int end)
        {
            int c = C, w = Vector<float>.Count;
            var local = Local(c <= MaxStackChannels / 2 ? stackalloc float[7 * c] : new float[7 * c], c, Mean, Inv, Alpha, OneMinusAlpha, Scale, A, Bv);
            var m = local[..c]; var inv = local.Slice(c, c); var al = local.Slice(2 * c, c); var oma = local.Slice(3 * c, c);
            var sc = local.Slice(4 * c, c); var ca = local.Slice(5 * c, c); var cb = local.Slice(6 * c, c);
            var one = Vector<float>.One;
            for (int r = start; r < end; r++)
            {
                bool real = Mask is null || Mask[r];
                var g = G.AsSpan(r * c, c); var x = X.AsSpan(r * c, c); var p = P.AsSpan(r * c, c); var d = DX.AsSpan(r * c, c);
                int k = 0;
                for (; k <= c - w; k += w)
                {
                    var vg = new Vector<float>(g[k..]); var vx = new Vector<float>(x[k..]); var vp = new Vector<float>(p[k..]); var vo = new Vector<float>(oma[k..]);
                    var dx = vg * (new Vector<float>(al[k..]) + vp * vo);
                    if (real)
                    {
                        var u = vg * vx * (vp * (one - vp) * vo);
                        var h = (vx - new Vector<float>(m[k..])) * new Vector<float>(inv[k..]);
                        dx += (u - new Vector<float>(ca[k..]) - h * new Vector<float>(cb[k..])) * new Vector<float>(sc[k..]);
                    }
                    (new Vector<float>(d[k..]) + dx).CopyTo(d[k..]);
                }
                for (; k < c; k++)
                {
                    float pk = p[k], dx = g[k] * (al[k] + pk * oma[k]);
                    if (real)
                    {
                        float u = g[k] * x[k] * (pk * (1f - pk) * oma[k]);
                        dx += (u - ca[k] - (x[k] - m[k]) * inv[k] * cb[k]) * sc[k];
                    }
                    d[k] += dx;
                }
            }
        }
    }

    /// <summary>PReLU: Y = X where X &gt; 0, else α ⊙ X (Alpha holds C slopes; a shared slope is repeated by the caller).</summary>
    public struct PReluRows : IRangeKernel
    {
        public float[] X, Y, Alpha;
        public int C;

        public void Run(int start, int end)
        {
            int c = C, w = Vector<float>.Count;
            var a = Local(c <= MaxStackChannels ? stackalloc float[c] : new float[c], c, Alpha);
            for (int r = start; r < end; r++)
            {
                var x = X.AsSpan(r * c, c); var y = Y.AsSpan(r * c, c);
                int k = 0;
                for (; k <= c - w; k += w)
                {
                    var v = new Vector<float>(x[k..]);
                    Vector.ConditionalSelect(Vector.GreaterThan(v, Vector<float>.Zero), v, v * new Vector<float>(a[k..])).CopyTo(y[k..]);
                }
                for (; k < c; k++) y[k] = x[k] > 0 ? x[k] : a[k] * x[k];
            }
        }
    }

    /// <summary>PReLU backward per block: DX += X &gt; 0 ? G : α ⊙ G; PartA[b, k] = Σ over X ≤ 0 of G ⊙ X.</summary>
    public struct PReluBackwardBlocks : IRangeKernel
    {
        public float[] G, X, Alpha;
        public float[]? DX, PartA;
        public int Rows, C;

        public void Run(int start, int end)
        {
            int c = C, w = Vector<float>.Count;
            var a = Local(c <= MaxStackChannels ? stackalloc float[c] : new float[c], c, Alpha);
            for (int b = start; b < end; b++)
            {
                var pa = PartA is null ? default : PartA.AsSpan(b * c, c);
                pa.Clear();
                for (int r = b * Block, r1 = Math.Min(Rows, r + Block); r < r1; r++)
                {
                    var g = G.AsSpan(r * c, c); var x = X.AsSpan(r * c, c);
                    var dx = DX is null ? default : DX.AsSpan(r * c, c);
                    int k = 0;
                    for (; k <= c - w; k += w)
                    {
                        var vx = new Vector<float>(x[k..]); var vg = new Vector<float>(g[k..]);
                        var pos = Vector.GreaterThan(vx, Vector<float>.Zero);
                        if (DX is not null) (new Vector<float>(dx[k..]) + Vector.ConditionalSelect(pos, vg, vg * new Vector<float>(a[k..]))).CopyTo(dx[k..]);
                        if (PartA is not null) (new Vector<float>(pa[k..]) + Vector.ConditionalSelect(pos, Vector<float>.Zero, vg * vx)).CopyTo(pa[k..]);
                    }
                    for (; k < c; k++)
                    {
                        float v = x[k];
                        if (DX is not null) dx[k] += v > 0 ? g[k] : a[k] * g[k];
                        if (PartA is not null && v <= 0) pa[k] += g[k] * v;
                    }
                }
            }
        }
    }
}
