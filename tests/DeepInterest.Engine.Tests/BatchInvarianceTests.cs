using DeepInterest.Engine.Kernels;

namespace DeepInterest.Engine.Tests;

/// <summary>
/// Batch invariance: a row of C = α·op(A)·op(B) + β·C + bias depends only on that row of op(A) and C,
/// on op(B), α, β, the bias and (n, k) — never on how many rows the product has or where the row sits
/// among them. A ranking request scores one user's candidates as one batch and must give each exactly
/// what it scores alone.
/// </summary>
public class BatchInvarianceTests
{
    private static readonly int[] Ms = [1, 2, 5, 6, 7, 13, 64, 65, 300];
    private static readonly int[] Ns = [1, 2, 8, 16, 24, 33, 48, 80, 200];
    private static readonly int[] Ks = [1, 3, 8, 36, 90, 257, 600];
    private static readonly (float Alpha, float Beta, bool Bias)[] Scalings =
        [(1f, 0f, false), (1f, 0f, true), (1f, 1f, false), (1f, 1f, true), (0.5f, 0f, false), (0.5f, 0f, true), (0.5f, 1f, false), (0.5f, 1f, true)];

    public static TheoryData<bool, bool, int> Cases()
    {
        var data = new TheoryData<bool, bool, int>();
        foreach (var ta in new[] { false, true })
            foreach (var tb in new[] { false, true })
                foreach (int m in Ms) data.Add(ta, tb, m);
        return data;
    }

    private static float[] Rand(Rng r, int n) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = r.NextFloat() * 2 - 1; return a; }

    /// <summary>A stored [rows, k] (or [k, rows] when transposed) with row stride ld, op(A)'s row i = rowsOfA[i].</summary>
    private static float[] StoreA(float[][] rowsOfA, int k, bool ta, int ld)
    {
        int m = rowsOfA.Length;
        var a = new float[(ta ? k : m) * ld];
        for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++) a[ta ? p * ld + i : i * ld + p] = rowsOfA[i][p];
        return a;
    }

    /// <summary>C = α·op(A)·op(B) + β·C0 + bias for the given rows of op(A) and C0, with op(A) stored padded (lda = width + pad).</summary>
    private static float[] Product(bool ta, bool tb, float[][] rowsOfA, float[][] c0, int n, int k, float[] b, int ldb, float alpha, float beta, float[]? bias, int pad)
    {
        int m = rowsOfA.Length, lda = (ta ? m : k) + pad, ldc = n + pad;
        var a = StoreA(rowsOfA, k, ta, lda);
        var c = new float[m * ldc];
        for (int i = 0; i < m; i++) c0[i].CopyTo(c, i * ldc);
        Gemm.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias);
        var rows = new float[m * n];
        for (int i = 0; i < m; i++) Array.Copy(c, i * ldc, rows, i * n, n);
        return rows;
    }

    private static void AssertRow(float[] expected, float[] actual, int actualRow, int n, string what)
    {
        for (int j = 0; j < n; j++)
        {
            float e = expected[j], a = actual[actualRow * n + j];
            if (BitConverter.SingleToInt32Bits(e) != BitConverter.SingleToInt32Bits(a))
                Assert.Fail($"{what}, column {j}: alone {e:R}, in the batch {a:R}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryRowOfAProductIsThatRowComputedAlone(bool ta, bool tb, int m)
    {
        var r = new Rng((ulong)(m * 4 + (ta ? 2 : 0) + (tb ? 1 : 0) + 1));
        foreach (int n in Ns)
            foreach (int k in Ks)
            {
                int ldb = (tb ? k : n) + 2;
                var b = Rand(r, (tb ? n : k) * ldb);
                var rowsOfA = Enumerable.Range(0, m).Select(_ => Rand(r, k)).ToArray();
                var c0 = Enumerable.Range(0, m).Select(_ => Rand(r, n)).ToArray();
                var biasRow = Rand(r, n);
                var others = Enumerable.Range(0, 64).Select(_ => Rand(r, k)).ToArray();
                foreach (var (alpha, beta, withBias) in Scalings)
                {
                    var bias = withBias ? biasRow : null;
                    var all = Product(ta, tb, rowsOfA, c0, n, k, b, ldb, alpha, beta, bias, pad: 3);
                    for (int i = 0; i < m; i++)
                    {
                        string at = $"ta {ta}, tb {tb}, [{m}, {n}, {k}], α {alpha}, β {beta}, bias {withBias}: row {i}";
                        var alone = Product(ta, tb, [rowsOfA[i]], [c0[i]], n, k, b, ldb, alpha, beta, bias, pad: i % 3);
                        AssertRow(alone, all, i, n, at);
                        // The same row first, in the middle and last of batches of other sizes (other rows random).
                        if (i % 37 != 0) continue;
                        foreach (int size in new[] { 2, 7, 13, 64 })
                            foreach (int at2 in new[] { 0, size / 2, size - 1 })
                            {
                                var rows = others.Take(size).ToArray(); rows[at2] = rowsOfA[i];
                                var cs = Enumerable.Range(0, size).Select(t => t == at2 ? c0[i] : c0[0]).ToArray();
                                var batch = Product(ta, tb, rows, cs, n, k, b, ldb, alpha, beta, bias, pad: 1);
                                AssertRow(alone, batch, at2, n, $"{at}, at {at2} of {size}");
                            }
                    }
                }
            }
    }

    /// <summary>
    /// A packed op(B) (a recurrent weight, DIN's scoring tiles) gives every row what Sgemm gives it, for
    /// any number of rows: both run the micro-kernels' arithmetic.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PackedProductsGiveEveryRowWhatSgemmGivesItAlone(bool tb)
    {
        var r = new Rng(tb ? 21UL : 22UL);
        foreach (int n in Ns)
            foreach (int k in Ks)
            {
                if (!Gemm.CanPack(n, k)) continue;
                int ldb = tb ? k : n;
                var b = Rand(r, n * k);
                var packed = Gemm.Pack(tb, n, k, b, ldb, new float[Gemm.PackedSize(n, k)]);
                var biasRow = Rand(r, n);
                foreach (int m in Ms)
                {
                    var a = Rand(r, m * k);
                    var c0 = Rand(r, m * n);
                    foreach (var (alpha, beta, withBias) in Scalings)
                    {
                        var bias = withBias ? biasRow : null;
                        var whole = (float[])c0.Clone();
                        Gemm.SgemmPacked(m, packed, alpha, a, k, beta, whole, n, bias);
                        var direct = (float[])c0.Clone();
                        Gemm.Sgemm(false, tb, m, n, k, alpha, a, k, b, ldb, beta, direct, n, bias);
                        for (int i = 0; i < m; i++)
                        {
                            string at = $"tb {tb}, [{m}, {n}, {k}], α {alpha}, β {beta}, bias {withBias}: row {i}";
                            var alone = c0.AsSpan(i * n, n).ToArray();
                            Gemm.SgemmPacked(1, packed, alpha, a.AsSpan(i * k, k), k, beta, alone, n, bias);
                            AssertRow(alone, whole, i, n, "SgemmPacked " + at);
                            AssertRow(alone, direct, i, n, "Sgemm " + at);
                            var single = c0.AsSpan(i * n, n).ToArray();
                            Gemm.Sgemm(false, tb, 1, n, k, alpha, a.AsSpan(i * k, k), k, b, ldb, beta, single, n, bias);
                            AssertRow(alone, single, 0, n, "Sgemm alone " + at);
                        }
                    }
                }
            }
    }
}
