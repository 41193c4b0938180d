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
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (m == 0 || n == 0) return;
        for (int i = 0; i < m; i++)
        {
            var crow = c.Slice(i * ldc, n);
            if (beta == 0f) crow.Clear();
            else if (beta != 1f) TensorPrimitives.Multiply(crow, beta, crow);
        }
        if (k == 0 || alpha == 0f) return;
        if (Vector512.IsHardwareAccelerated && Fma.IsSupported && (long)m * n * k >= 32_768 && n >= 8 && k >= 4)
        {
            unsafe
            {
                fixed (float* pa = a, pb = b, pc = c)
                    PackedGemm(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, pc, ldc);
            }
            return;
        }
        ReferenceGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc);
    }

    // Packed GEMM: op(B) is packed per k-block into panels of NR = 32 columns ([KC][32], zero-padded),
    // op(A) per thread into panels of MR = 6 rows ([KC][6]); a 6 × 32 micro-kernel keeps its tile in
    // 12 AVX-512 registers. Threads split the rows of C only and every element of C sums its k-blocks
    // in the same order, so results do not depend on the thread count.
    private const int MR = 6, NR = 32, KC = 256;
    [ThreadStatic] private static float[]? _packA;
    [ThreadStatic] private static float[]? _packB;

    private static unsafe void PackedGemm(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float* c, int ldc)
    {
        int nPanels = (n + NR - 1) / NR;
        int need = KC * NR * nPanels;
        if (_packB is null || _packB.Length < need) _packB = new float[need];
        fixed (float* pb = _packB)
        {
            for (int p0 = 0; p0 < k; p0 += KC)
            {
                int kc = Math.Min(KC, k - p0);
                PackB(transB, b, ldb, p0, kc, n, pb);
                var job = new RowJob { A = a, Lda = lda, TransA = transA, Pb = pb, C = c, Ldc = ldc, M = m, N = n, P0 = p0, Kc = kc, Alpha = alpha };
                int rowPanels = (m + MR - 1) / MR;
                if ((long)m * n * kc >= 1_000_000) Par.For(rowPanels, 4, ref job);
                else job.Run(0, rowPanels);
            }
        }
    }

    private static unsafe void PackB(bool transB, float* b, int ldb, int p0, int kc, int n, float* dst)
    {
        int nPanels = (n + NR - 1) / NR;
        for (int jp = 0; jp < nPanels; jp++)
        {
            int j0 = jp * NR, w = Math.Min(NR, n - j0);
            float* panel = dst + (long)jp * KC * NR;
            for (int p = 0; p < kc; p++)
            {
                float* row = panel + p * NR;
                if (!transB)
                {
                    float* src = b + (long)(p0 + p) * ldb + j0;
                    for (int j = 0; j < w; j++) row[j] = src[j];
                }
                else
                {
                    float* src = b + (long)j0 * ldb + p0 + p;
                    for (int j = 0; j < w; j++) row[j] = src[(long)j * ldb];
                }
                for (int j = w; j < NR; j++) row[j] = 0f;
            }
        }
    }

    private unsafe struct RowJob : IRangeKernel
    {
        public float* A, Pb, C;
        public int Lda, Ldc, M, N, P0, Kc;
        public bool TransA;
        public float Alpha;

        public void Run(int start, int end)
        {
            var pack = _packA ??= new float[KC * MR];
            int nPanels = (N + NR - 1) / NR;
            fixed (float* pa = pack)
            {
                for (int ip = start; ip < end; ip++)
                {
                    int i0 = ip * MR, h = Math.Min(MR, M - i0);
                    for (int p = 0; p < Kc; p++)
                    {
                        float* dst = pa + p * MR;
                        int col = P0 + p;
                        if (!TransA) for (int i = 0; i < h; i++) dst[i] = A[(long)(i0 + i) * Lda + col];
                        else { float* src = A + (long)col * Lda + i0; for (int i = 0; i < h; i++) dst[i] = src[i]; }
                        for (int i = h; i < MR; i++) dst[i] = 0f;
                    }
                    for (int jp = 0; jp < nPanels; jp++)
                    {
                        int j0 = jp * NR;
                        Micro(pa, Pb + (long)jp * KC * NR, Kc, C + (long)i0 * Ldc + j0, Ldc, h, Math.Min(NR, N - j0), Alpha);
                    }
                }
            }
        }
    }

    private static unsafe void Micro(float* pa, float* pb, int kc, float* c, int ldc, int rows, int cols, float alpha)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(pb + p * NR);
            var b1 = Vector512.Load(pb + p * NR + 16);
            float* ap = pa + p * MR;
            var a0 = Vector512.Create(ap[0]); c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector512.Create(ap[1]); c10 = Avx512F.FusedMultiplyAdd(a1, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector512.Create(ap[2]); c20 = Avx512F.FusedMultiplyAdd(a2, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector512.Create(ap[3]); c30 = Avx512F.FusedMultiplyAdd(a3, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector512.Create(ap[4]); c40 = Avx512F.FusedMultiplyAdd(a4, b0, c40); c41 = Avx512F.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector512.Create(ap[5]); c50 = Avx512F.FusedMultiplyAdd(a5, b0, c50); c51 = Avx512F.FusedMultiplyAdd(a5, b1, c51);
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
        float* tile = stackalloc float[MR * NR];
        (c00 * va).Store(tile); (c01 * va).Store(tile + 16);
        (c10 * va).Store(tile + 32); (c11 * va).Store(tile + 48);
        (c20 * va).Store(tile + 64); (c21 * va).Store(tile + 80);
        (c30 * va).Store(tile + 96); (c31 * va).Store(tile + 112);
        (c40 * va).Store(tile + 128); (c41 * va).Store(tile + 144);
        (c50 * va).Store(tile + 160); (c51 * va).Store(tile + 176);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) c[(long)i * ldc + j] += tile[i * NR + j];
    }

    private static unsafe void Store(float* c, Vector512<float> lo, Vector512<float> hi, Vector512<float> alpha)
    {
        Avx512F.FusedMultiplyAdd(lo, alpha, Vector512.Load(c)).Store(c);
        Avx512F.FusedMultiplyAdd(hi, alpha, Vector512.Load(c + 16)).Store(c + 16);
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
