using System.Numerics.Tensors;

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
        ReferenceGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc);
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
