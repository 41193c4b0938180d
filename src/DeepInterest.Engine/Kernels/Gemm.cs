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
        if (k == 0 || alpha == 0f)
        {
            for (int i = 0; i < m; i++) InitRow(c.Slice(i * ldc, n), beta, bias);
            return;
        }
        // Batch invariance: the arithmetic that computes an element of C is chosen by (n, k, the
        // transposes) only, never by m, so a row of C is the same bit for bit whether it is computed
        // alone or among any number of other rows (a ranking request scores one user's candidates
        // together and must give what each scores alone).
        unsafe
        {
            fixed (float* pa = a, pb = b, pc = c, pbias = bias)
            {
                float* biasPtr = bias.IsEmpty ? null : pbias;
                if (k == 1 || (n == 1 && !transA && (transB || ldb == 1)))
                {
                    // A layer with one output (scores, logits) or one input, or their backward: a product per
                    // row of C, too thin for the micro-kernels (which would compute 5 of 6 rows or 31 of 32
                    // columns for nothing); rows are independent, so large ones split over threads without
                    // changing any result.
                    var job = new ThinRows { A = pa, B = pb, C = pc, Bias = biasPtr, TransA = transA, TransB = transB,
                        M = m, N = n, K = k, Lda = lda, Ldb = ldb, Ldc = ldc, Alpha = alpha, Beta = beta, LenA = a.Length, LenB = b.Length };
                    int chunks = (m + 63) / 64;
                    if (m >= 256) Par.For(chunks, Math.Max(1, (int)((long)Par.MinElementsPerPart / (64L * n * k))), ref job);
                    else job.Run(0, chunks);
                }
                else if (m >= MinPackedRows && CanPack(n, k) && (long)m * n * k >= 32_768)
                {
                    // C's rows are initialised (beta, bias) by the thread that computes them, so they are in its cache.
                    PackedGemm(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, biasPtr);
                }
                else
                {
                    // One row, a small product, or a shape the micro-kernels do not serve: the micro-kernels'
                    // arithmetic, element for element, without their 6-row panels.
                    var job = new ExactRows { A = pa, B = pb, C = pc, Bias = biasPtr, TransA = transA, TransB = transB,
                        M = m, N = n, K = k, Lda = lda, Ldb = ldb, Ldc = ldc, Alpha = alpha, Beta = beta };
                    int chunks = (m + 63) / 64;
                    if ((long)m * n * k >= 4_000_000) Par.For(chunks, 1, ref job);
                    else job.Run(0, chunks);
                }
            }
        }
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
    // 6 rows Lda apart; transposed: 6 adjacent values per k); a last panel of fewer than 6 rows goes to
    // the exact kernels (see ExactRows) on the same packed B. Packing A cost as much as the products on
    // the models' thin layers (k = 36–200). One fork-join
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
            if (transB && Wide)
            {
                // A Linear weight ([n, k]): 16 of the panel's columns at a time, 16 × 16 through registers
                // (columns past n come out zero); element by element this cost more than the products on
                // DIN's scoring path, which packs its weights per call.
                for (int g = 0; g < stride; g += 16)
                {
                    int rows = Math.Clamp(w - g, 0, 16);
                    for (int q0 = 0; q0 < kc; q0 += 16)
                        Transpose16(b + (long)(j0 + g) * ldb + p0 + q0, ldb, rows, Math.Min(16, kc - q0), panel + (long)q0 * stride + g, stride);
                }
                continue;
            }
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
            int nPanels = Panels(N);
            var bias = Bias == null ? default : new ReadOnlySpan<float>(Bias, N);
            // One k-block: each panel's rows of C are initialised just before its tile, while in cache;
            // several: all of this thread's rows first, as every block adds into them.
            bool initAll = K > KC;
            if (initAll) for (int i = start * MR, i1 = Math.Min(M, end * MR); i < i1; i++) InitRow(new Span<float>(C + (long)i * Ldc, N), Beta, bias);
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
                    // op(A) is read in place: a transposed A ([k, m] in memory) holds a panel's MR values of one
                    // k side by side (Lda apart from one k to the next); a plain A holds them Lda apart, each
                    // row's k contiguous.
                    float* pa;
                    int sa, si;
                    if (TransA) { pa = A + (long)p0 * Lda + i0; sa = Lda; si = 1; } else { pa = A + (long)i0 * Lda + p0; sa = 1; si = Lda; }
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
                        // A last panel of fewer than 6 rows (a GRU step's last rows; one row when a request is
                        // scored alone): the exact kernels, the same arithmetic without 6 rows' FMAs.
                        if (h < MR) PanelRows(pa, sa, si, h, bp, sb, kc, cp, Ldc, w, Alpha);
                        else if (stride == NR) Micro(pa, sa, si, bp, sb, lanes, kc, cp, Ldc, h, w, Alpha);
                        else if (stride > NR) Micro48(pa, sa, si, bp, sb, lanes, kc, cp, Ldc, h, w, Alpha);
                        else Micro16(pa, sa, si, bp, sb, lanes, kc, cp, Ldc, h, w, Alpha);
                    }
                }
            }
        }
    }

    /// <summary>rows &lt; 6 rows of C (Ldc apart), columns [0, cols) with cols ≤ 48, for one k-block, by the exact kernels.</summary>
    private static unsafe void PanelRows(float* a, int sa, int si, int rows, float* b, int sb, int kc, float* c, int ldc, int cols, float alpha)
    {
        while (rows > 0)
        {
            int h = Math.Min(4, rows);
            if (h == 1) Row64(a, sa, b, sb, kc, c, cols, alpha);
            else
            {
                Rows4x32(a, sa, si, h, b, sb, kc, c, ldc, Math.Min(32, cols), alpha);
                if (cols > 32) Rows4x32(a, sa, si, h, b + 32, sb, kc, c + 32, ldc, cols - 32, alpha);
            }
            a += (long)h * si; c += (long)h * ldc; rows -= h;
        }
    }

    // Row i of the A panel at k index p is pa[p·sa + i·si]: a transposed A (sa = Lda, si = 1) or a plain
    // A (sa = 1, si = Lda), read in place.
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

    // ----- Exact rows: the micro-kernels' arithmetic without their 6-row panels -----
    //
    // Per element of C and per k-block of KC in order, the micro-kernels compute acc = fma(a_p, b_p, acc)
    // for p ascending from acc = 0, then c = fma(acc, α, c) into the row InitRow prepared. The kernels
    // below do exactly that for any number of rows (one row: a request scored alone; a few: products too
    // small to pack), vectorized across columns: an FMA lane is bit for bit a scalar FMA, so which
    // kernel, tile or vector width served an element never changes it. A transposed B (a Linear weight,
    // [n, k]) is transposed 16 × 16 in registers: for one or two rows straight into the FMA chains, for
    // more one k-block at a time into a thread-local buffer that all rows read. The packed path serves its
    // last panel of fewer than 6 rows with these kernels too.

    /// <summary>Whether the AVX-512 exact kernels run (else the portable ones: the same results, slower).</summary>
    private static readonly bool Wide = Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Fma.IsSupported;

    /// <summary>Fewer rows than this never take the packed path: its 6-row panels would compute mostly nothing.</summary>
    private const int MinPackedRows = 6;

    [ThreadStatic] private static float[]? _transB;

    /// <summary>Rows [64·start, 64·end) of C with the packed path's per-element arithmetic (see above).</summary>
    private unsafe struct ExactRows : IRangeKernel
    {
        public float* A, B, C, Bias;
        public bool TransA, TransB;
        public int M, N, K, Lda, Ldb, Ldc;
        public float Alpha, Beta;

        public void Run(int start, int end)
        {
            int i0 = start * 64, i1 = Math.Min(M, end * 64);
            var bias = Bias == null ? default : new ReadOnlySpan<float>(Bias, N);
            for (int i = i0; i < i1; i++) InitRow(new Span<float>(C + (long)i * Ldc, N), Beta, bias);
            int ldt = (N + 15) & ~15;                                   // the transposed block's row stride
            // One or two rows against a transposed B (a request scored alone through a Linear layer): B's
            // k-block is transposed in registers and consumed at once. Transposing it into a buffer first
            // and reading it back cost twice as much as the old dot product per column.
            bool fused = TransB && Wide && i1 - i0 <= 2;
            float[]? buf = null;
            if (TransB && !fused)
            {
                long need = (long)Math.Min(K, KC) * ldt;
                buf = _transB;
                if (buf is null || buf.Length < need) _transB = buf = new float[Math.Max(need, 4096)];
            }
            // op(A)[i, p] = A[i·si + p·sa]; op(B)[p, j] = bp[p·sb + j] within a k-block.
            int sa = TransA ? Lda : 1, si = TransA ? 1 : Lda;
            fixed (float* t = buf)
            {
                for (int p0 = 0; p0 < K; p0 += KC)
                {
                    int kc = Math.Min(KC, K - p0);
                    float* ap = A + (long)p0 * sa;
                    if (fused) { RowsTransB(ap + (long)i0 * si, sa, si, i1 - i0, B + p0, Ldb, N, kc, C + (long)i0 * Ldc, Ldc, Alpha); continue; }
                    float* bp = B + (long)p0 * Ldb;
                    int sb = Ldb;
                    if (TransB) { TransposeBlock(B + p0, Ldb, N, kc, t, ldt); bp = t; sb = ldt; }
                    int i = i0;
                    if (Wide)
                    {
                        if (N <= 16)                                    // narrow: eight rows keep eight FMA chains in flight
                            for (; i + 8 <= i1; i += 8) Rows8x16(ap + (long)i * si, sa, si, bp, sb, kc, C + (long)i * Ldc, Ldc, N, Alpha);
                        for (; i + 4 <= i1; i += 4)
                            for (int j = 0; j < N; j += 32)
                                Rows4x32(ap + (long)i * si, sa, si, 4, bp + j, sb, kc, C + (long)i * Ldc + j, Ldc, Math.Min(32, N - j), Alpha);
                        for (; i < i1; i++)
                            for (int j = 0; j < N; j += 128)
                            {
                                int w = Math.Min(128, N - j);
                                if (w > 64) Row128(ap + (long)i * si, sa, bp + j, sb, kc, C + (long)i * Ldc + j, w, Alpha);
                                else Row64(ap + (long)i * si, sa, bp + j, sb, kc, C + (long)i * Ldc + j, w, Alpha);
                            }
                    }
                    else for (; i < i1; i++) PortableRow(ap + (long)i * si, sa, bp, sb, kc, C + (long)i * Ldc, N, Alpha);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Lanes(int count) => Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreRow(float* c, Vector512<float> acc, Vector512<float> alpha, Vector512<float> mask) =>
        Avx512F.MaskStore(c, mask, Avx512F.FusedMultiplyAdd(acc, alpha, Avx512F.MaskLoad(c, mask, Vector512<float>.Zero)));

    /// <summary>One row of C, columns [0, cols) with 64 &lt; cols ≤ 128, for one k-block.</summary>
    private static unsafe void Row128(float* a, int sa, float* b, int sb, int kc, float* c, int cols, float alpha)
    {
        var m4 = Lanes(cols - 64); var m5 = Lanes(cols - 80); var m6 = Lanes(cols - 96); var m7 = Lanes(cols - 112);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        var z = Vector512<float>.Zero;
        for (int p = 0; p < kc; p++)
        {
            float* bq = b + (long)p * sb;
            var av = Vector512.Create(a[(long)p * sa]);
            c0 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(bq), c0);
            c1 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(bq + 16), c1);
            c2 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(bq + 32), c2);
            c3 = Avx512F.FusedMultiplyAdd(av, Vector512.Load(bq + 48), c3);
            c4 = Avx512F.FusedMultiplyAdd(av, Avx512F.MaskLoad(bq + 64, m4, z), c4);
            c5 = Avx512F.FusedMultiplyAdd(av, Avx512F.MaskLoad(bq + 80, m5, z), c5);
            c6 = Avx512F.FusedMultiplyAdd(av, Avx512F.MaskLoad(bq + 96, m6, z), c6);
            c7 = Avx512F.FusedMultiplyAdd(av, Avx512F.MaskLoad(bq + 112, m7, z), c7);
        }
        var va = Vector512.Create(alpha);
        var all = Vector512<float>.AllBitsSet;
        StoreRow(c, c0, va, all); StoreRow(c + 16, c1, va, all); StoreRow(c + 32, c2, va, all); StoreRow(c + 48, c3, va, all);
        StoreRow(c + 64, c4, va, m4); StoreRow(c + 80, c5, va, m5); StoreRow(c + 96, c6, va, m6); StoreRow(c + 112, c7, va, m7);
    }

    /// <summary>One row of C, columns [0, cols) with cols ≤ 64, for one k-block.</summary>
    private static unsafe void Row64(float* a, int sa, float* b, int sb, int kc, float* c, int cols, float alpha)
    {
        var m0 = Lanes(cols); var m1 = Lanes(cols - 16); var m2 = Lanes(cols - 32); var m3 = Lanes(cols - 48);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        var z = Vector512<float>.Zero;
        for (int p = 0; p < kc; p++)
        {
            float* bq = b + (long)p * sb;
            var av = Vector512.Create(a[(long)p * sa]);
            c0 = Avx512F.FusedMultiplyAdd(av, Avx512F.MaskLoad(bq, m0, z), c0);
            c1 = Avx512F.FusedMultiplyAdd(av, Avx512F.MaskLoad(bq + 16, m1, z), c1);
            c2 = Avx512F.FusedMultiplyAdd(av, Avx512F.MaskLoad(bq + 32, m2, z), c2);
            c3 = Avx512F.FusedMultiplyAdd(av, Avx512F.MaskLoad(bq + 48, m3, z), c3);
        }
        var va = Vector512.Create(alpha);
        StoreRow(c, c0, va, m0); StoreRow(c + 16, c1, va, m1); StoreRow(c + 32, c2, va, m2); StoreRow(c + 48, c3, va, m3);
    }

    /// <summary>
    /// rows ≤ 4 rows of C (Ldc apart), columns [0, cols) with cols ≤ 32, for one k-block; row r of op(A) at
    /// a + r·si. With fewer than 4 rows the last one is computed again in the spare accumulators, not stored.
    /// </summary>
    private static unsafe void Rows4x32(float* a, int sa, int si, int rows, float* b, int sb, int kc, float* c, int ldc, int cols, float alpha)
    {
        var m0 = Lanes(cols); var m1 = Lanes(cols - 16);
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        var z = Vector512<float>.Zero;
        float* r0 = a, r1 = a + Math.Min(1, rows - 1) * si, r2 = a + Math.Min(2, rows - 1) * si, r3 = a + (rows - 1) * si;
        for (int p = 0; p < kc; p++)
        {
            float* bq = b + (long)p * sb;
            var b0 = Avx512F.MaskLoad(bq, m0, z);
            var b1 = Avx512F.MaskLoad(bq + 16, m1, z);
            long o = (long)p * sa;
            var a0 = Vector512.Create(r0[o]); c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector512.Create(r1[o]); c10 = Avx512F.FusedMultiplyAdd(a1, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector512.Create(r2[o]); c20 = Avx512F.FusedMultiplyAdd(a2, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector512.Create(r3[o]); c30 = Avx512F.FusedMultiplyAdd(a3, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a3, b1, c31);
        }
        var va = Vector512.Create(alpha);
        StoreRow(c, c00, va, m0); StoreRow(c + 16, c01, va, m1);
        if (rows > 1) { StoreRow(c + ldc, c10, va, m0); StoreRow(c + ldc + 16, c11, va, m1); }
        if (rows > 2) { StoreRow(c + 2 * ldc, c20, va, m0); StoreRow(c + 2 * ldc + 16, c21, va, m1); }
        if (rows > 3) { StoreRow(c + 3 * ldc, c30, va, m0); StoreRow(c + 3 * ldc + 16, c31, va, m1); }
    }

    /// <summary>Eight rows of C (Ldc apart), columns [0, cols) with cols ≤ 16, for one k-block; row r of op(A) at a + r·si.</summary>
    private static unsafe void Rows8x16(float* a, int sa, int si, float* b, int sb, int kc, float* c, int ldc, int cols, float alpha)
    {
        var m = Lanes(cols);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        var z = Vector512<float>.Zero;
        float* r0 = a, r1 = a + si, r2 = a + 2 * si, r3 = a + 3 * si, r4 = a + 4 * si, r5 = a + 5 * si, r6 = a + 6 * si, r7 = a + 7 * si;
        for (int p = 0; p < kc; p++)
        {
            var bv = Avx512F.MaskLoad(b + (long)p * sb, m, z);
            long o = (long)p * sa;
            c0 = Avx512F.FusedMultiplyAdd(Vector512.Create(r0[o]), bv, c0);
            c1 = Avx512F.FusedMultiplyAdd(Vector512.Create(r1[o]), bv, c1);
            c2 = Avx512F.FusedMultiplyAdd(Vector512.Create(r2[o]), bv, c2);
            c3 = Avx512F.FusedMultiplyAdd(Vector512.Create(r3[o]), bv, c3);
            c4 = Avx512F.FusedMultiplyAdd(Vector512.Create(r4[o]), bv, c4);
            c5 = Avx512F.FusedMultiplyAdd(Vector512.Create(r5[o]), bv, c5);
            c6 = Avx512F.FusedMultiplyAdd(Vector512.Create(r6[o]), bv, c6);
            c7 = Avx512F.FusedMultiplyAdd(Vector512.Create(r7[o]), bv, c7);
        }
        var va = Vector512.Create(alpha);
        StoreRow(c, c0, va, m); StoreRow(c + ldc, c1, va, m); StoreRow(c + 2 * ldc, c2, va, m); StoreRow(c + 3 * ldc, c3, va, m);
        float* c4p = c + 4 * ldc;
        StoreRow(c4p, c4, va, m); StoreRow(c4p + ldc, c5, va, m); StoreRow(c4p + 2 * ldc, c6, va, m); StoreRow(c4p + 3 * ldc, c7, va, m);
    }

    /// <summary>One row of C without AVX-512: <see cref="System.Numerics.Vector{T}"/> lanes, then scalar FMAs — the same values.</summary>
    private static unsafe void PortableRow(float* a, int sa, float* b, int sb, int kc, float* c, int n, float alpha)
    {
        int j = 0, w = System.Numerics.Vector<float>.Count;
        var va = new System.Numerics.Vector<float>(alpha);
        for (; j + w <= n; j += w)
        {
            var acc = System.Numerics.Vector<float>.Zero;
            for (int p = 0; p < kc; p++)
                acc = System.Numerics.Vector.FusedMultiplyAdd(new System.Numerics.Vector<float>(a[(long)p * sa]), System.Numerics.Vector.Load(b + (long)p * sb + j), acc);
            System.Numerics.Vector.Store(System.Numerics.Vector.FusedMultiplyAdd(acc, va, System.Numerics.Vector.Load(c + j)), c + j);
        }
        for (; j < n; j++)
        {
            float acc = 0f;
            for (int p = 0; p < kc; p++) acc = MathF.FusedMultiplyAdd(a[(long)p * sa], b[(long)p * sb + j], acc);
            c[j] = MathF.FusedMultiplyAdd(acc, alpha, c[j]);
        }
    }

    /// <summary>
    /// One or two rows of C (Ldc apart; row r of op(A) at a + r·si), all n columns, for one k-block of a
    /// transposed B (row j of B, i.e. column j of op(B), at b + j·ldb): 16 rows of B × 16 values of k at a
    /// time are transposed in registers and fed straight into the columns' FMA chains. One row takes two
    /// groups of 16 columns side by side, two rows one group, so that two chains are in flight.
    /// </summary>
    private static unsafe void RowsTransB(float* a, int sa, int si, int rows, float* b, int ldb, int n, int kc, float* c, int ldc, float alpha)
    {
        var va = Vector512.Create(alpha);
        var all = Vector512<float>.AllBitsSet;
        int j0 = 0;
        if (rows == 1)
            for (; j0 + 32 <= n; j0 += 32)
            {
                Vector512<float> acc0 = default, acc1 = default;
                float* b0 = b + (long)j0 * ldb, b1 = b0 + 16L * ldb;
                int q0 = 0;
                for (; q0 + 16 <= kc; q0 += 16)
                {
                    Tile16(b0 + q0, ldb, out var o0, out var o1, out var o2, out var o3, out var o4, out var o5, out var o6, out var o7,
                        out var o8, out var o9, out var o10, out var o11, out var o12, out var o13, out var o14, out var o15);
                    acc0 = Fma16(a + (long)q0 * sa, sa, o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, o13, o14, o15, acc0);
                    Tile16(b1 + q0, ldb, out o0, out o1, out o2, out o3, out o4, out o5, out o6, out o7,
                        out o8, out o9, out o10, out o11, out o12, out o13, out o14, out o15);
                    acc1 = Fma16(a + (long)q0 * sa, sa, o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, o13, o14, o15, acc1);
                }
                if (q0 < kc)
                {
                    ChainPartial(b0 + q0, ldb, 16, kc - q0, a + (long)q0 * sa, a, sa, false, ref acc0, ref acc0);
                    ChainPartial(b1 + q0, ldb, 16, kc - q0, a + (long)q0 * sa, a, sa, false, ref acc1, ref acc1);
                }
                StoreRow(c + j0, acc0, va, all);
                StoreRow(c + j0 + 16, acc1, va, all);
            }
        bool two = rows == 2;
        float* a1 = two ? a + si : a;
        for (; j0 < n; j0 += 16)
        {
            int w = Math.Min(16, n - j0);
            Vector512<float> acc0 = default, acc1 = default;
            float* b0 = b + (long)j0 * ldb;
            int q0 = 0;
            for (; q0 + 16 <= kc; q0 += 16)
            {
                if (w < 16) { ChainPartial(b0 + q0, ldb, w, 16, a + (long)q0 * sa, a1 + (long)q0 * sa, sa, two, ref acc0, ref acc1); continue; }
                Tile16(b0 + q0, ldb, out var o0, out var o1, out var o2, out var o3, out var o4, out var o5, out var o6, out var o7,
                    out var o8, out var o9, out var o10, out var o11, out var o12, out var o13, out var o14, out var o15);
                acc0 = Fma16(a + (long)q0 * sa, sa, o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, o13, o14, o15, acc0);
                if (two) acc1 = Fma16(a1 + (long)q0 * sa, sa, o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, o13, o14, o15, acc1);
            }
            if (q0 < kc) ChainPartial(b0 + q0, ldb, w, kc - q0, a + (long)q0 * sa, a1 + (long)q0 * sa, sa, two, ref acc0, ref acc1);
            var m = Lanes(w);
            StoreRow(c + j0, acc0, va, m);
            if (two) StoreRow(c + ldc + j0, acc1, va, m);
        }
    }

    /// <summary>A full 16 × 16 tile of src (16 rows ld apart) transposed into registers: o_q lane t = src[t·ld + q].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Tile16(float* src, int ld,
        out Vector512<float> o0, out Vector512<float> o1, out Vector512<float> o2, out Vector512<float> o3,
        out Vector512<float> o4, out Vector512<float> o5, out Vector512<float> o6, out Vector512<float> o7,
        out Vector512<float> o8, out Vector512<float> o9, out Vector512<float> o10, out Vector512<float> o11,
        out Vector512<float> o12, out Vector512<float> o13, out Vector512<float> o14, out Vector512<float> o15)
    {
        var r0 = Vector512.Load(src); var r1 = Vector512.Load(src + ld); var r2 = Vector512.Load(src + 2 * ld); var r3 = Vector512.Load(src + 3 * ld);
        float* s4 = src + 4 * ld;
        var r4 = Vector512.Load(s4); var r5 = Vector512.Load(s4 + ld); var r6 = Vector512.Load(s4 + 2 * ld); var r7 = Vector512.Load(s4 + 3 * ld);
        float* s8 = src + 8 * ld;
        var r8 = Vector512.Load(s8); var r9 = Vector512.Load(s8 + ld); var r10 = Vector512.Load(s8 + 2 * ld); var r11 = Vector512.Load(s8 + 3 * ld);
        float* s12 = src + 12 * ld;
        var r12 = Vector512.Load(s12); var r13 = Vector512.Load(s12 + ld); var r14 = Vector512.Load(s12 + 2 * ld); var r15 = Vector512.Load(s12 + 3 * ld);
        Transpose(r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15,
            out o0, out o1, out o2, out o3, out o4, out o5, out o6, out o7, out o8, out o9, out o10, out o11, out o12, out o13, out o14, out o15);
    }

    /// <summary><see cref="Tile16"/> for a tile of rows ≤ 16 rows and cols ≤ 16 columns: rows and columns past the tile read as zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void TilePartial(float* src, int ld, int rows, int cols,
        out Vector512<float> o0, out Vector512<float> o1, out Vector512<float> o2, out Vector512<float> o3,
        out Vector512<float> o4, out Vector512<float> o5, out Vector512<float> o6, out Vector512<float> o7,
        out Vector512<float> o8, out Vector512<float> o9, out Vector512<float> o10, out Vector512<float> o11,
        out Vector512<float> o12, out Vector512<float> o13, out Vector512<float> o14, out Vector512<float> o15)
    {
        var m = Lanes(cols);
        var r0 = LoadRow(src, 0, ld, rows, m); var r1 = LoadRow(src, 1, ld, rows, m); var r2 = LoadRow(src, 2, ld, rows, m); var r3 = LoadRow(src, 3, ld, rows, m);
        var r4 = LoadRow(src, 4, ld, rows, m); var r5 = LoadRow(src, 5, ld, rows, m); var r6 = LoadRow(src, 6, ld, rows, m); var r7 = LoadRow(src, 7, ld, rows, m);
        var r8 = LoadRow(src, 8, ld, rows, m); var r9 = LoadRow(src, 9, ld, rows, m); var r10 = LoadRow(src, 10, ld, rows, m); var r11 = LoadRow(src, 11, ld, rows, m);
        var r12 = LoadRow(src, 12, ld, rows, m); var r13 = LoadRow(src, 13, ld, rows, m); var r14 = LoadRow(src, 14, ld, rows, m); var r15 = LoadRow(src, 15, ld, rows, m);
        Transpose(r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15,
            out o0, out o1, out o2, out o3, out o4, out o5, out o6, out o7, out o8, out o9, out o10, out o11, out o12, out o13, out o14, out o15);
    }

    /// <summary>
    /// Sixteen rows r_t → sixteen columns o_q (lane t of o_q = lane q of r_t). Within each 128-bit lane L, row
    /// t holds its columns 4L … 4L + 3: two unpacks gather the four rows of a group per column (lane L of
    /// u_q: column 4L + q of rows 0–3), two 128-bit shuffles then bring the four groups' lanes of one column
    /// together.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose(Vector512<float> r0, Vector512<float> r1, Vector512<float> r2, Vector512<float> r3,
        Vector512<float> r4, Vector512<float> r5, Vector512<float> r6, Vector512<float> r7,
        Vector512<float> r8, Vector512<float> r9, Vector512<float> r10, Vector512<float> r11,
        Vector512<float> r12, Vector512<float> r13, Vector512<float> r14, Vector512<float> r15,
        out Vector512<float> o0, out Vector512<float> o1, out Vector512<float> o2, out Vector512<float> o3,
        out Vector512<float> o4, out Vector512<float> o5, out Vector512<float> o6, out Vector512<float> o7,
        out Vector512<float> o8, out Vector512<float> o9, out Vector512<float> o10, out Vector512<float> o11,
        out Vector512<float> o12, out Vector512<float> o13, out Vector512<float> o14, out Vector512<float> o15)
    {
        Quad(r0, r1, r2, r3, out var u0, out var u1, out var u2, out var u3);
        Quad(r4, r5, r6, r7, out var v0, out var v1, out var v2, out var v3);
        Quad(r8, r9, r10, r11, out var w0, out var w1, out var w2, out var w3);
        Quad(r12, r13, r14, r15, out var x0, out var x1, out var x2, out var x3);
        Columns(u0, v0, w0, x0, out o0, out o4, out o8, out o12);
        Columns(u1, v1, w1, x1, out o1, out o5, out o9, out o13);
        Columns(u2, v2, w2, x2, out o2, out o6, out o10, out o14);
        Columns(u3, v3, w3, x3, out o3, out o7, out o11, out o15);
    }

    /// <summary>acc through 16 FMAs in order: acc = fma(a[q·sa], o_q, acc) for q = 0 … 15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<float> Fma16(float* a, int sa,
        Vector512<float> o0, Vector512<float> o1, Vector512<float> o2, Vector512<float> o3,
        Vector512<float> o4, Vector512<float> o5, Vector512<float> o6, Vector512<float> o7,
        Vector512<float> o8, Vector512<float> o9, Vector512<float> o10, Vector512<float> o11,
        Vector512<float> o12, Vector512<float> o13, Vector512<float> o14, Vector512<float> o15, Vector512<float> acc)
    {
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[0]), o0, acc);
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[sa]), o1, acc);
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[2 * sa]), o2, acc);
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[3 * sa]), o3, acc);
        a += 4L * sa;
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[0]), o4, acc);
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[sa]), o5, acc);
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[2 * sa]), o6, acc);
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[3 * sa]), o7, acc);
        a += 4L * sa;
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[0]), o8, acc);
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[sa]), o9, acc);
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[2 * sa]), o10, acc);
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[3 * sa]), o11, acc);
        a += 4L * sa;
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[0]), o12, acc);
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[sa]), o13, acc);
        acc = Avx512F.FusedMultiplyAdd(Vector512.Create(a[2 * sa]), o14, acc);
        return Avx512F.FusedMultiplyAdd(Vector512.Create(a[3 * sa]), o15, acc);
    }

    /// <summary>
    /// A tile of rows ≤ 16 rows of B and cols ≤ 16 values of k into one row's chain (a0 → acc0) or two rows'
    /// (and a1 → acc1): exactly cols FMAs each, as a zero product added to a −0 accumulator would make it +0.
    /// </summary>
    private static unsafe void ChainPartial(float* src, int ld, int rows, int cols, float* a0, float* a1, int sa, bool two, ref Vector512<float> acc0, ref Vector512<float> acc1)
    {
        TilePartial(src, ld, rows, cols, out var o0, out var o1, out var o2, out var o3, out var o4, out var o5, out var o6, out var o7,
            out var o8, out var o9, out var o10, out var o11, out var o12, out var o13, out var o14, out var o15);
        Vector512<float> x = acc0, y = acc1;
        if (cols > 0) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[0]), o0, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[0]), o0, y); }
        if (cols > 1) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[1L * sa]), o1, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[1L * sa]), o1, y); }
        if (cols > 2) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[2L * sa]), o2, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[2L * sa]), o2, y); }
        if (cols > 3) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[3L * sa]), o3, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[3L * sa]), o3, y); }
        if (cols > 4) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[4L * sa]), o4, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[4L * sa]), o4, y); }
        if (cols > 5) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[5L * sa]), o5, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[5L * sa]), o5, y); }
        if (cols > 6) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[6L * sa]), o6, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[6L * sa]), o6, y); }
        if (cols > 7) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[7L * sa]), o7, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[7L * sa]), o7, y); }
        if (cols > 8) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[8L * sa]), o8, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[8L * sa]), o8, y); }
        if (cols > 9) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[9L * sa]), o9, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[9L * sa]), o9, y); }
        if (cols > 10) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[10L * sa]), o10, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[10L * sa]), o10, y); }
        if (cols > 11) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[11L * sa]), o11, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[11L * sa]), o11, y); }
        if (cols > 12) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[12L * sa]), o12, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[12L * sa]), o12, y); }
        if (cols > 13) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[13L * sa]), o13, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[13L * sa]), o13, y); }
        if (cols > 14) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[14L * sa]), o14, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[14L * sa]), o14, y); }
        if (cols > 15) { x = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[15L * sa]), o15, x); if (two) y = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[15L * sa]), o15, y); }
        acc0 = x;
        if (two) acc1 = y;
    }

    /// <summary>
    /// dst[q·ldt + j] = b[j·ldb + q] for j &lt; n, q &lt; kc: a k-block of a transposed B as rows of op(B). With
    /// AVX-512 the block goes 16 × 16 through registers and the lanes from n up to ldt are zero.
    /// </summary>
    private static unsafe void TransposeBlock(float* b, int ldb, int n, int kc, float* dst, int ldt)
    {
        if (!Wide)
        {
            for (int q = 0; q < kc; q++)
                for (int j = 0; j < n; j++) dst[(long)q * ldt + j] = b[(long)j * ldb + q];
            return;
        }
        for (int j0 = 0; j0 < n; j0 += 16)
        {
            int rows = Math.Min(16, n - j0);
            for (int q0 = 0; q0 < kc; q0 += 16)
                Transpose16(b + (long)j0 * ldb + q0, ldb, rows, Math.Min(16, kc - q0), dst + (long)q0 * ldt + j0, ldt);
        }
    }

    /// <summary>
    /// A [rows ≤ 16, cols ≤ 16] tile of src (rows ld apart) transposed into dst (rows ldt apart): dst row q
    /// (q &lt; cols) gets src's column q in its first rows lanes, zeros after.
    /// </summary>
    private static unsafe void Transpose16(float* src, int ld, int rows, int cols, float* dst, int ldt)
    {
        Vector512<float> o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, o13, o14, o15;
        if (rows == 16 && cols == 16)
            Tile16(src, ld, out o0, out o1, out o2, out o3, out o4, out o5, out o6, out o7, out o8, out o9, out o10, out o11, out o12, out o13, out o14, out o15);
        else
            TilePartial(src, ld, rows, cols, out o0, out o1, out o2, out o3, out o4, out o5, out o6, out o7, out o8, out o9, out o10, out o11, out o12, out o13, out o14, out o15);
        if (cols == 16)
        {
            o0.Store(dst); o1.Store(dst + ldt); o2.Store(dst + 2 * ldt); o3.Store(dst + 3 * ldt);
            float* d4 = dst + 4 * ldt;
            o4.Store(d4); o5.Store(d4 + ldt); o6.Store(d4 + 2 * ldt); o7.Store(d4 + 3 * ldt);
            float* d8 = dst + 8 * ldt;
            o8.Store(d8); o9.Store(d8 + ldt); o10.Store(d8 + 2 * ldt); o11.Store(d8 + 3 * ldt);
            float* d12 = dst + 12 * ldt;
            o12.Store(d12); o13.Store(d12 + ldt); o14.Store(d12 + 2 * ldt); o15.Store(d12 + 3 * ldt);
            return;
        }
        if (cols > 0) o0.Store(dst);
        if (cols > 1) o1.Store(dst + ldt);
        if (cols > 2) o2.Store(dst + 2 * ldt);
        if (cols > 3) o3.Store(dst + 3 * ldt);
        if (cols > 4) o4.Store(dst + 4 * ldt);
        if (cols > 5) o5.Store(dst + 5 * ldt);
        if (cols > 6) o6.Store(dst + 6 * ldt);
        if (cols > 7) o7.Store(dst + 7 * ldt);
        if (cols > 8) o8.Store(dst + 8 * ldt);
        if (cols > 9) o9.Store(dst + 9 * ldt);
        if (cols > 10) o10.Store(dst + 10 * ldt);
        if (cols > 11) o11.Store(dst + 11 * ldt);
        if (cols > 12) o12.Store(dst + 12 * ldt);
        if (cols > 13) o13.Store(dst + 13 * ldt);
        if (cols > 14) o14.Store(dst + 14 * ldt);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<float> LoadRow(float* src, int t, int ld, int rows, Vector512<float> mask) =>
        t < rows ? Avx512F.MaskLoad(src + (long)t * ld, mask, Vector512<float>.Zero) : Vector512<float>.Zero;

    /// <summary>Rows r0–r3 → q0–q3, where qc's lane L holds column 4L + c of rows 0, 1, 2, 3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quad(Vector512<float> r0, Vector512<float> r1, Vector512<float> r2, Vector512<float> r3,
        out Vector512<float> q0, out Vector512<float> q1, out Vector512<float> q2, out Vector512<float> q3)
    {
        var t0 = Avx512F.UnpackLow(r0, r1).AsDouble(); var t1 = Avx512F.UnpackHigh(r0, r1).AsDouble();
        var t2 = Avx512F.UnpackLow(r2, r3).AsDouble(); var t3 = Avx512F.UnpackHigh(r2, r3).AsDouble();
        q0 = Avx512F.UnpackLow(t0, t2).AsSingle(); q1 = Avx512F.UnpackHigh(t0, t2).AsSingle();
        q2 = Avx512F.UnpackLow(t1, t3).AsSingle(); q3 = Avx512F.UnpackHigh(t1, t3).AsSingle();
    }

    /// <summary>Columns q, q + 4, q + 8, q + 12 of a 16 × 16 tile from the four row groups' vectors u, v, w, x of column q (see <see cref="Quad"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Columns(Vector512<float> u, Vector512<float> v, Vector512<float> w, Vector512<float> x,
        out Vector512<float> o0, out Vector512<float> o4, out Vector512<float> o8, out Vector512<float> o12)
    {
        var a = Avx512F.Shuffle4x128(u, v, 0x88); var b = Avx512F.Shuffle4x128(u, v, 0xDD);
        var c = Avx512F.Shuffle4x128(w, x, 0x88); var d = Avx512F.Shuffle4x128(w, x, 0xDD);
        o0 = Avx512F.Shuffle4x128(a, c, 0x88); o4 = Avx512F.Shuffle4x128(b, d, 0x88);
        o8 = Avx512F.Shuffle4x128(a, c, 0xDD); o12 = Avx512F.Shuffle4x128(b, d, 0xDD);
    }

    /// <summary>
    /// Rows [64·start, 64·end) of C for a product with one output column (A's row and B's column
    /// contiguous) or k = 1. Each row's arithmetic depends only on the shape, never on m: row i of C
    /// reads only row i of op(A).
    /// </summary>
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
            // one output: C[i] += α·⟨A[i, :], B⟩; one input: C[i, :] += α·A[i]·B[0, :].
            if (N == 1 && !TransA && (TransB || Ldb == 1))
            {
                for (int i = i0; i < i1; i++) C[(long)i * Ldc] += Alpha * Dot(A + (long)i * Lda, B, K);
                return;
            }
            if (!TransB)
            {
                for (int i = i0; i < i1; i++) Axpy(C + (long)i * Ldc, Alpha * (TransA ? A[i] : A[(long)i * Lda]), B, N);
                return;
            }
            // k = 1 with B stored [n, 1] (B's column op(B)[0, :] Ldb apart), row by row.
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
