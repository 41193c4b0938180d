using System.Runtime.CompilerServices;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DeepInterest.Engine.Kernels;

/// <summary>
/// Single-precision general matrix multiply on row-major spans:
/// C[m, n] = alpha · op(A) · op(B) + beta · C, with op(X) = X or Xᵀ.
/// A is [m, k] (or [k, m] when transposed) with row stride lda; B is [k, n] (or [n, k]) with
/// row stride ldb. beta = 1 accumulates, which is how backward adds into gradients.
/// </summary>
public static class Gemm
{
    /// <summary>
    /// C = alpha·op(A)·op(B) + beta·C + bias, where the optional [n] <paramref name="bias"/> row (a Linear
    /// layer's bias) is added to every row of C after the beta scaling.
    /// </summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc, ReadOnlySpan<float> bias = default)
    {
        if (m == 0 || n == 0) return;
        if (!bias.IsEmpty && bias.Length < n) throw new ArgumentException($"Sgemm: bias has {bias.Length} elements, C has {n} columns.");
        if (k > 0 && alpha != 0f && (m == 1 || n == 1 || k == 1))
        {
            // A layer with one output (scores, logits) or its backward: a product per row of C, too thin
            // for the micro-kernels (which would compute 5 of 6 rows or 31 of 32 columns for nothing);
            // rows are independent, so large ones split over threads without changing any result.
            unsafe
            {
                fixed (float* pa = a, pb = b, pc = c, pbias = bias)
                {
                    var job = new ThinRows { A = pa, B = pb, C = pc, Bias = bias.IsEmpty ? null : pbias, TransA = transA, TransB = transB,
                        M = m, N = n, K = k, Lda = lda, Ldb = ldb, Ldc = ldc, Alpha = alpha, Beta = beta, LenA = a.Length, LenB = b.Length };
                    int chunks = (m + 63) / 64;
                    if (m >= 256) Par.For(chunks, Math.Max(1, (int)((long)Par.MinElementsPerPart / (64L * n * k))), ref job);
                    else job.Run(0, chunks);
                }
            }
            return;
        }
        if (k > 0 && alpha != 0f && m > 1 && n > 1 && k > 1 && CanPack(n, k) && (long)m * n * k >= 32_768)
        {
            unsafe
            {
                // C's rows are initialised (beta, bias) by the thread that computes them, so they are in its cache.
                fixed (float* pa = a, pb = b, pc = c, pbias = bias)
                    PackedGemm(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, bias.IsEmpty ? null : pbias);
            }
            return;
        }
        for (int i = 0; i < m; i++) InitRow(c.Slice(i * ldc, n), beta, bias);
        if (k == 0 || alpha == 0f) return;
        ReferenceGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc);
    }

    /// <summary>
    /// op(B) packed once for many products with the same right operand — a recurrent weight over the
    /// time steps of a sequence. Available when <see cref="CanPack"/>; otherwise use <see cref="Sgemm"/>.
    /// </summary>
    public readonly struct PackedMatrix(float[] data, int n, int k, long blockSize)
    {
        internal float[] Data { get; } = data;
        internal int N { get; } = n;
        internal int K { get; } = k;
        internal long BlockSize { get; } = blockSize;
    }

    /// <summary>Whether <see cref="Pack"/> and <see cref="SgemmPacked"/> can serve an op(B) of [k, n].</summary>
    public static bool CanPack(int n, int k) => Vector512.IsHardwareAccelerated && Fma.IsSupported && n >= 8 && k >= 4;

    /// <summary>Floats the packed form of a [k, n] operand needs.</summary>
    public static int PackedSize(int n, int k) => (int)BlockSize(n) * ((k + KC - 1) / KC);

    /// <summary>Packs op(B) ([k, n], or [n, k] when <paramref name="transB"/>) into <paramref name="dst"/> (≥ <see cref="PackedSize"/>).</summary>
    public static PackedMatrix Pack(bool transB, int n, int k, ReadOnlySpan<float> b, int ldb, float[] dst)
    {
        if (!CanPack(n, k)) throw new InvalidOperationException($"Gemm.Pack: no packed kernel for [{k}, {n}] on this CPU.");
        if (dst.Length < PackedSize(n, k)) throw new ArgumentException($"Gemm.Pack: destination has {dst.Length} floats, needs {PackedSize(n, k)}.");
        int kBlocks = (k + KC - 1) / KC;
        long blockSize = BlockSize(n);
        unsafe
        {
            fixed (float* pb = b, pd = dst)
            {
                var pack = new PackJob { B = pb, Ldb = ldb, TransB = transB, K = k, N = n, Dst = pd, BlockSize = blockSize };
                pack.Run(0, kBlocks);
            }
        }
        return new PackedMatrix(dst, n, k, blockSize);
    }

    /// <summary>
    /// C[m, n] = alpha·A·op(B) + beta·C (+ bias) with op(B) packed by <see cref="Pack"/>, on the calling
    /// thread (callers split rows over threads). Each element is computed exactly as by <see cref="Sgemm"/>'s
    /// packed path whatever m is, so splitting rows differently gives identical results.
    /// </summary>
    public static void SgemmPacked(int m, in PackedMatrix b, float alpha, ReadOnlySpan<float> a, int lda, float beta, Span<float> c, int ldc, ReadOnlySpan<float> bias = default)
    {
        if (m == 0) return;
        unsafe
        {
            fixed (float* pa = a, pb = b.Data, pc = c, pbias = bias)
            {
                var job = new RowJob
                {
                    A = pa, Lda = lda, TransA = false, Pb = pb, BlockSize = b.BlockSize, C = pc, Ldc = ldc, M = m, N = b.N, K = b.K,
                    Alpha = alpha, Beta = beta, Bias = bias.IsEmpty ? null : pbias,
                };
                job.Run(0, (m + MR - 1) / MR);
            }
        }
    }

    /// <summary>C row ← beta·C row + bias (beta = 0 overwrites, so NaN or garbage in C does not survive).</summary>
    private static void InitRow(Span<float> crow, float beta, ReadOnlySpan<float> bias)
    {
        if (beta == 0f) { if (bias.IsEmpty) crow.Clear(); else bias[..crow.Length].CopyTo(crow); return; }
        if (beta != 1f) TensorPrimitives.Multiply(crow, beta, crow);
        if (!bias.IsEmpty) TensorPrimitives.Add(crow, bias[..crow.Length], crow);
    }

    // Packed GEMM: a 6 × 32 micro-kernel keeps its tile of C in 12 AVX-512 registers and reads, per k,
    // 32 values of op(B) and 6 of op(A). op(B) is packed once per call, per k-block, into panels of
    // NR = 32 columns ([KC][32], zero-padded) only where it must be: a transposed B or rows far apart;
    // a plain narrow B is read in place (see MaxInPlaceLdb). op(A) is read in place too (plain:
    // 6 rows Lda apart; transposed: 6 adjacent values per k); only a last partial row panel is packed.
    // Packing A cost as much as the products on the models' thin layers (k = 36–200). One fork-join
    // over the row panels of C covers every k-block (a weight gradient has k = the batch's rows,
    // hundreds of blocks: a fork-join per block cost more than its arithmetic). Every element of C
    // sums its k-blocks in the same order, so results do not depend on the thread count, nor on
    // whether an operand was packed.
    private const int MR = 6, NR = 32, KC = 256;

    // Column panels: NR = 32 wide, except the last, which is 16 wide when n ≤ 16 and 48 wide when the
    // columns left after the 32-wide panels need three 16-lane vectors (N = 40: one 48-wide panel;
    // N = 80: 32 + 48) — a 16-wide tile has too few accumulators to keep both FMA pipes busy and ran
    // at half the speed of the others. Every element sums its products in the same order whatever the
    // tile width, so the panel layout never changes a result.
    private static int Panels(int n) { int u = (n + 15) / 16; return u <= 1 ? 1 : u % 2 == 0 ? u / 2 : (u - 1) / 2; }
    private static int LastStride(int n) { int u = (n + 15) / 16; return u <= 1 ? 16 : u % 2 == 0 ? NR : NR + 16; }
    private static int Stride(int n, int jp) => jp == Panels(n) - 1 ? LastStride(n) : NR;
    private static long BlockSize(int n) => (long)KC * (NR * (Panels(n) - 1) + LastStride(n));
    [ThreadStatic] private static float[]? _packA;
    [ThreadStatic] private static float[]? _packB;

    private static unsafe void PackedGemm(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc, float* bias)
    {
        int nPanels = Panels(n), kBlocks = (k + KC - 1) / KC;
        long blockSize = BlockSize(n);
        bool parallel = (long)m * n * k >= 4_000_000;   // 8 MFLOP, ≈ 40 µs on one core (see Par.MinElementsPerPart)
        bool bInPlace = !transB && ldb <= MaxInPlaceLdb;
        long need = bInPlace ? 0 : blockSize * kBlocks;
        if (_packB is null || _packB.Length < need) _packB = new float[need];
        fixed (float* pb = _packB)
        {
            var pack = new PackJob { B = b, Ldb = ldb, TransB = transB, K = k, N = n, Dst = pb, BlockSize = blockSize };
            if (!bInPlace && parallel && kBlocks > 1) Par.For(kBlocks, 1, ref pack);
            else if (!bInPlace) pack.Run(0, kBlocks);
            int rowPanels = (m + MR - 1) / MR;
            var job = new RowJob { A = a, Lda = lda, TransA = transA, Pb = pb, B = b, Ldb = ldb, BInPlace = bInPlace, BlockSize = blockSize, C = c, Ldc = ldc, M = m, N = n, K = k, Alpha = alpha, Beta = beta, Bias = bias };
            if (parallel) Par.For(rowPanels, 1, ref job);
            else job.Run(0, rowPanels);
        }
    }

    private static unsafe void PackA(bool transA, float* a, int lda, int i0, int h, int p0, int kc, float* dst)
    {
        for (int p = 0; p < kc; p++, dst += MR)
        {
            int col = p0 + p;
            if (!transA) for (int i = 0; i < h; i++) dst[i] = a[(long)(i0 + i) * lda + col];
            else { float* src = a + (long)col * lda + i0; for (int i = 0; i < h; i++) dst[i] = src[i]; }
            for (int i = h; i < MR; i++) dst[i] = 0f;
        }
    }

    private unsafe struct PackJob : IRangeKernel
    {
        public float* B, Dst;
        public int Ldb, K, N;
        public long BlockSize;
        public bool TransB;

        public void Run(int start, int end)
        {
            for (int blk = start; blk < end; blk++)
            {
                int p0 = blk * KC;
                PackB(TransB, B, Ldb, p0, Math.Min(KC, K - p0), N, Dst + blk * BlockSize);
            }
        }
    }

    private static unsafe void PackB(bool transB, float* b, int ldb, int p0, int kc, int n, float* dst)
    {
        int nPanels = Panels(n);
        for (int jp = 0; jp < nPanels; jp++)
        {
            int j0 = jp * NR, stride = Stride(n, jp), w = Math.Min(stride, n - j0);
            float* panel = dst + (long)jp * KC * NR;
            for (int p = 0; p < kc; p++)
            {
                float* row = panel + p * stride;
                if (!transB) new ReadOnlySpan<float>(b + (long)(p0 + p) * ldb + j0, w).CopyTo(new Span<float>(row, w));
                else
                {
                    float* src = b + (long)j0 * ldb + p0 + p;
                    for (int j = 0; j < w; j++) row[j] = src[(long)j * ldb];
                }
                for (int j = w; j < stride; j++) row[j] = 0f;
            }
        }
    }

    // A plain B ([k, n], row p's columns contiguous) holds a panel's values of one k side by side: the
    // micro-kernels read them in place, Ldb apart, instead of a packed copy (a weight gradient's B is
    // the layer input, k = the batch's rows: copying it cost more than the products), the last 16
    // lanes of a partial panel under a mask. Only for narrow rows: rows a few KiB apart fall into the
    // same cache sets (square 1024: half the speed).
    private const int MaxInPlaceLdb = 256;

    private unsafe struct RowJob : IRangeKernel
    {
        public float* A, Pb, B, C, Bias;
        public int Lda, Ldb, Ldc, M, N, K;
        public long BlockSize;
        public bool TransA, BInPlace;
        public float Alpha, Beta;

        public void Run(int start, int end)
        {
            var pack = _packA ??= new float[KC * MR];
            int nPanels = Panels(N);
            var bias = Bias == null ? default : new ReadOnlySpan<float>(Bias, N);
            // One k-block: each panel's rows of C are initialised just before its tile, while in cache;
            // several: all of this thread's rows first, as every block adds into them.
            bool initAll = K > KC;
            if (initAll) for (int i = start * MR, i1 = Math.Min(M, end * MR); i < i1; i++) InitRow(new Span<float>(C + (long)i * Ldc, N), Beta, bias);
            fixed (float* own = pack)
            {
                // k-blocks outside: one packed block of B stays in cache across this thread's row panels.
                for (int p0 = 0, blk = 0; p0 < K; p0 += KC, blk++)
                {
                    int kc = Math.Min(KC, K - p0);
                    float* pb = Pb + blk * BlockSize;
                    float* bRow = B + (long)p0 * Ldb;
                    for (int ip = start; ip < end; ip++)
                    {
                        int i0 = ip * MR, h = Math.Min(MR, M - i0);
                        if (!initAll) for (int i = i0; i < i0 + h; i++) InitRow(new Span<float>(C + (long)i * Ldc, N), Beta, bias);
                        float* pa = own;
                        int sa = MR, si = 1;
                        // A full panel is read in place: a transposed A ([k, m] in memory) holds its MR values of
                        // one k side by side (Lda apart from one k to the next); a plain A holds them Lda apart,
                        // each row's k contiguous. Only a last partial panel is packed (zero rows).
                        if (h == MR) { if (TransA) { pa = A + (long)p0 * Lda + i0; sa = Lda; } else { pa = A + (long)i0 * Lda + p0; sa = 1; si = Lda; } }
                        else PackA(TransA, A, Lda, i0, h, p0, kc, own);
                        for (int jp = 0; jp < nPanels; jp++)
                        {
                            int j0 = jp * NR, stride = Stride(N, jp), w = Math.Min(stride, N - j0);
                            float* bp = pb + (long)jp * KC * NR;
                            int sb = stride;
                            var lanes = Vector512<float>.AllBitsSet;                     // a packed panel is zero-padded
                            if (BInPlace)
                            {
                                bp = bRow + j0; sb = Ldb;
                                lanes = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(w - (stride - 16))).AsSingle();
                            }
                            float* cp = C + (long)i0 * Ldc + j0;
                            if (stride == NR) Micro(pa, sa, si, bp, sb, lanes, kc, cp, Ldc, h, w, Alpha);
                            else if (stride > NR) Micro48(pa, sa, si, bp, sb, lanes, kc, cp, Ldc, h, w, Alpha);
                            else Micro16(pa, sa, si, bp, sb, lanes, kc, cp, Ldc, h, w, Alpha);
                        }
                    }
                }
            }
        }
    }

    // Row i of the A panel at k index p is pa[p·sa + i·si]: packed (sa = MR, si = 1), a transposed A in
    // place (sa = Lda, si = 1) or a plain A in place (sa = 1, si = Lda).
    private static unsafe void Micro(float* pa, int sa, int si, float* pb, int sb, Vector512<float> lanes, int kc, float* c, int ldc, int rows, int cols, float alpha)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        float* r0 = pa, r1 = pa + si, r2 = pa + 2 * si, r3 = pa + 3 * si, r4 = pa + 4 * si, r5 = pa + 5 * si;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(pb + (long)p * sb);
            var b1 = Avx512F.MaskLoad(pb + (long)p * sb + 16, lanes, Vector512<float>.Zero);
            long o = (long)p * sa;
            var a0 = Vector512.Create(r0[o]); c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector512.Create(r1[o]); c10 = Avx512F.FusedMultiplyAdd(a1, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector512.Create(r2[o]); c20 = Avx512F.FusedMultiplyAdd(a2, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector512.Create(r3[o]); c30 = Avx512F.FusedMultiplyAdd(a3, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector512.Create(r4[o]); c40 = Avx512F.FusedMultiplyAdd(a4, b0, c40); c41 = Avx512F.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector512.Create(r5[o]); c50 = Avx512F.FusedMultiplyAdd(a5, b0, c50); c51 = Avx512F.FusedMultiplyAdd(a5, b1, c51);
        }
        var va = Vector512.Create(alpha);
        if (cols == NR)
        {
            if (rows > 0) Store(c, c00, c01, va);
            if (rows > 1) Store(c + ldc, c10, c11, va);
            if (rows > 2) Store(c + 2 * ldc, c20, c21, va);
            if (rows > 3) Store(c + 3 * ldc, c30, c31, va);
            if (rows > 4) Store(c + 4 * ldc, c40, c41, va);
            if (rows > 5) Store(c + 5 * ldc, c50, c51, va);
            return;
        }
        // A partial panel (N = 50, 72, 108 … leave 17–31 columns): the high half is stored under a mask.
        var mask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(cols - 16)).AsSingle();
        if (rows > 0) StorePartial(c, c00, c01, va, mask);
        if (rows > 1) StorePartial(c + ldc, c10, c11, va, mask);
        if (rows > 2) StorePartial(c + 2 * ldc, c20, c21, va, mask);
        if (rows > 3) StorePartial(c + 3 * ldc, c30, c31, va, mask);
        if (rows > 4) StorePartial(c + 4 * ldc, c40, c41, va, mask);
        if (rows > 5) StorePartial(c + 5 * ldc, c50, c51, va, mask);
    }

    // The 6 × 48 tile of a last panel of 33–48 columns: 18 accumulators, the third 16 lanes stored under
    // a mask when the panel is partial. Same per-element FMA order as Micro.
    private static unsafe void Micro48(float* pa, int sa, int si, float* pb, int sb, Vector512<float> lanes, int kc, float* c, int ldc, int rows, int cols, float alpha)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c10 = default, c11 = default, c12 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c30 = default, c31 = default, c32 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c50 = default, c51 = default, c52 = default;
        float* r0 = pa, r1 = pa + si, r2 = pa + 2 * si, r3 = pa + 3 * si, r4 = pa + 4 * si, r5 = pa + 5 * si;
        for (int p = 0; p < kc; p++)
        {
            float* bq = pb + (long)p * sb;
            var b0 = Vector512.Load(bq);
            var b1 = Vector512.Load(bq + 16);
            var b2 = Avx512F.MaskLoad(bq + 32, lanes, Vector512<float>.Zero);
            long o = (long)p * sa;
            var a0 = Vector512.Create(r0[o]); c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01); c02 = Avx512F.FusedMultiplyAdd(a0, b2, c02);
            var a1 = Vector512.Create(r1[o]); c10 = Avx512F.FusedMultiplyAdd(a1, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a1, b1, c11); c12 = Avx512F.FusedMultiplyAdd(a1, b2, c12);
            var a2 = Vector512.Create(r2[o]); c20 = Avx512F.FusedMultiplyAdd(a2, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a2, b1, c21); c22 = Avx512F.FusedMultiplyAdd(a2, b2, c22);
            var a3 = Vector512.Create(r3[o]); c30 = Avx512F.FusedMultiplyAdd(a3, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a3, b1, c31); c32 = Avx512F.FusedMultiplyAdd(a3, b2, c32);
            var a4 = Vector512.Create(r4[o]); c40 = Avx512F.FusedMultiplyAdd(a4, b0, c40); c41 = Avx512F.FusedMultiplyAdd(a4, b1, c41); c42 = Avx512F.FusedMultiplyAdd(a4, b2, c42);
            var a5 = Vector512.Create(r5[o]); c50 = Avx512F.FusedMultiplyAdd(a5, b0, c50); c51 = Avx512F.FusedMultiplyAdd(a5, b1, c51); c52 = Avx512F.FusedMultiplyAdd(a5, b2, c52);
        }
        var va = Vector512.Create(alpha);
        var mask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(cols - 32)).AsSingle();
        if (rows > 0) { Store(c, c00, c01, va); StoreMasked(c + 32, c02, va, mask); }
        if (rows > 1) { Store(c + ldc, c10, c11, va); StoreMasked(c + ldc + 32, c12, va, mask); }
        if (rows > 2) { Store(c + 2 * ldc, c20, c21, va); StoreMasked(c + 2 * ldc + 32, c22, va, mask); }
        if (rows > 3) { Store(c + 3 * ldc, c30, c31, va); StoreMasked(c + 3 * ldc + 32, c32, va, mask); }
        if (rows > 4) { Store(c + 4 * ldc, c40, c41, va); StoreMasked(c + 4 * ldc + 32, c42, va, mask); }
        if (rows > 5) { Store(c + 5 * ldc, c50, c51, va); StoreMasked(c + 5 * ldc + 32, c52, va, mask); }
    }

    // The 6 × 16 tile of a narrow last panel (N = 40 → 32 + 16 instead of 32 + 32): same per-element
    // FMA order as Micro, so results do not depend on which kernel served a column.
    private static unsafe void Micro16(float* pa, int sa, int si, float* pb, int sb, Vector512<float> lanes, int kc, float* c, int ldc, int rows, int cols, float alpha)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        float* r0 = pa, r1 = pa + si, r2 = pa + 2 * si, r3 = pa + 3 * si, r4 = pa + 4 * si, r5 = pa + 5 * si;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Avx512F.MaskLoad(pb + (long)p * sb, lanes, Vector512<float>.Zero);
            long o = (long)p * sa;
            c0 = Avx512F.FusedMultiplyAdd(Vector512.Create(r0[o]), b0, c0);
            c1 = Avx512F.FusedMultiplyAdd(Vector512.Create(r1[o]), b0, c1);
            c2 = Avx512F.FusedMultiplyAdd(Vector512.Create(r2[o]), b0, c2);
            c3 = Avx512F.FusedMultiplyAdd(Vector512.Create(r3[o]), b0, c3);
            c4 = Avx512F.FusedMultiplyAdd(Vector512.Create(r4[o]), b0, c4);
            c5 = Avx512F.FusedMultiplyAdd(Vector512.Create(r5[o]), b0, c5);
        }
        var va = Vector512.Create(alpha);
        if (cols == NR / 2)
        {
            if (rows > 0) Avx512F.FusedMultiplyAdd(c0, va, Vector512.Load(c)).Store(c);
            if (rows > 1) Avx512F.FusedMultiplyAdd(c1, va, Vector512.Load(c + ldc)).Store(c + ldc);
            if (rows > 2) Avx512F.FusedMultiplyAdd(c2, va, Vector512.Load(c + 2 * ldc)).Store(c + 2 * ldc);
            if (rows > 3) Avx512F.FusedMultiplyAdd(c3, va, Vector512.Load(c + 3 * ldc)).Store(c + 3 * ldc);
            if (rows > 4) Avx512F.FusedMultiplyAdd(c4, va, Vector512.Load(c + 4 * ldc)).Store(c + 4 * ldc);
            if (rows > 5) Avx512F.FusedMultiplyAdd(c5, va, Vector512.Load(c + 5 * ldc)).Store(c + 5 * ldc);
            return;
        }
        // Fewer than 16 columns (N = 36 leaves 4, N = 40 leaves 8): stored under a mask.
        var mask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(cols)).AsSingle();
        if (rows > 0) StoreMasked(c, c0, va, mask);
        if (rows > 1) StoreMasked(c + ldc, c1, va, mask);
        if (rows > 2) StoreMasked(c + 2 * ldc, c2, va, mask);
        if (rows > 3) StoreMasked(c + 3 * ldc, c3, va, mask);
        if (rows > 4) StoreMasked(c + 4 * ldc, c4, va, mask);
        if (rows > 5) StoreMasked(c + 5 * ldc, c5, va, mask);
    }

    private static unsafe void Store(float* c, Vector512<float> lo, Vector512<float> hi, Vector512<float> alpha)
    {
        Avx512F.FusedMultiplyAdd(lo, alpha, Vector512.Load(c)).Store(c);
        Avx512F.FusedMultiplyAdd(hi, alpha, Vector512.Load(c + 16)).Store(c + 16);
    }

    // Masked forms of Store: the same FMA per element, so a column's value does not depend on the tile
    // width that served it; masked-off lanes are neither read nor written (C's row may end there).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StorePartial(float* c, Vector512<float> lo, Vector512<float> hi, Vector512<float> alpha, Vector512<float> mask)
    {
        Avx512F.FusedMultiplyAdd(lo, alpha, Vector512.Load(c)).Store(c);
        StoreMasked(c + 16, hi, alpha, mask);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreMasked(float* c, Vector512<float> acc, Vector512<float> alpha, Vector512<float> mask) =>
        Avx512F.MaskStore(c, mask, Avx512F.FusedMultiplyAdd(acc, alpha, Avx512F.MaskLoad(c, mask, Vector512<float>.Zero)));

    /// <summary>Rows [64·start, 64·end) of C by <see cref="ReferenceGemm"/> (row i of C reads only row i of op(A)).</summary>
    private unsafe struct ThinRows : IRangeKernel
    {
        public float* A, B, C, Bias;
        public bool TransA, TransB;
        public int M, N, K, Lda, Ldb, Ldc, LenA, LenB;
        public float Alpha, Beta;

        public void Run(int start, int end)
        {
            int i0 = start * 64, i1 = Math.Min(M, end * 64);
            var bias = Bias == null ? default : new ReadOnlySpan<float>(Bias, N);
            var b = new ReadOnlySpan<float>(B, LenB);
            for (int i = i0; i < i1; i++) InitRow(new Span<float>(C + (long)i * Ldc, N), Beta, bias);
            // The layers' shapes, in registers (a library call per row cost more than its arithmetic):
            // one output: C[i] += α·⟨A[i, :], B⟩; one input: C[i, :] += α·A[i]·B[0, :]; one row (the
            // weight gradient of a one-output layer): C[0, :] += Σ_p α·A[p]·B[p, :], p in order.
            if (N == 1 && !TransA && (TransB || Ldb == 1))
            {
                for (int i = i0; i < i1; i++) C[(long)i * Ldc] += Alpha * Dot(A + (long)i * Lda, B, K);
                return;
            }
            if (K == 1 && !TransB)
            {
                for (int i = i0; i < i1; i++) Axpy(C + (long)i * Ldc, Alpha * (TransA ? A[i] : A[(long)i * Lda]), B, N);
                return;
            }
            if (M == 1 && !TransB)
            {
                for (int p = 0; p < K; p++)
                {
                    float av = Alpha * (TransA ? A[(long)p * Lda] : A[p]);
                    if (av != 0f) Axpy(C, av, B + (long)p * Ldb, N);
                }
                return;
            }
            // op(A) rows i0 … i1 − 1: A from row i0 (not transposed) or from column i0 (transposed).
            var a = TransA ? new ReadOnlySpan<float>(A + i0, LenA - i0) : new ReadOnlySpan<float>(A + (long)i0 * Lda, LenA - i0 * Lda);
            ReferenceGemm(TransA, TransB, i1 - i0, N, K, Alpha, a, Lda, b, Ldb, new Span<float>(C + (long)i0 * Ldc, (i1 - i0 - 1) * Ldc + N), Ldc);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float Dot(float* x, float* y, int k)
    {
        int p = 0;
        var acc = Vector256<float>.Zero;
        for (; p <= k - 8; p += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(x + p), Vector256.Load(y + p), acc);
        float s = Vector256.Sum(acc);
        for (; p < k; p++) s = MathF.FusedMultiplyAdd(x[p], y[p], s);
        return s;
    }

    /// <summary>c[0..n) += a·x[0..n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Axpy(float* c, float a, float* x, int n)
    {
        int j = 0;
        var va = Vector256.Create(a);
        for (; j <= n - 8; j += 8) Vector256.FusedMultiplyAdd(Vector256.Load(x + j), va, Vector256.Load(c + j)).Store(c + j);
        for (; j < n; j++) c[j] = MathF.FusedMultiplyAdd(x[j], a, c[j]);
    }

    /// <summary>Straightforward reference: C += alpha · op(A) · op(B). Correct for every layout.</summary>
    internal static void ReferenceGemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            var crow = c.Slice(i * ldc, n);
            if (!transB)
            {
                for (int p = 0; p < k; p++)
                {
                    float av = alpha * (transA ? a[p * lda + i] : a[i * lda + p]);
                    if (av == 0f) continue;
                    TensorPrimitives.MultiplyAdd(b.Slice(p * ldb, n), av, crow, crow);
                }
            }
            else
            {
                for (int j = 0; j < n; j++)
                {
                    float s = 0f;
                    if (!transA) s = TensorPrimitives.Dot(a.Slice(i * lda, k), b.Slice(j * ldb, k));
                    else for (int p = 0; p < k; p++) s += a[p * lda + i] * b[j * ldb + p];
                    crow[j] += alpha * s;
                }
            }
        }
    }
}
