using DeepInterest.Engine;
using DeepInterest.Engine.Kernels;

namespace DeepInterest.Engine.Tests;

/// <summary>Kernels against scalar references, at every length up to 3 × the vector width + 1.</summary>
public class KernelTests
{
    private static float[] Rand(Rng r, int n) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = r.NextFloat() * 2 - 1; return a; }

    private static void NaiveGemm(bool ta, bool tb, int m, int n, int k, float alpha, float[] a, int lda, float[] b, int ldb, float beta, double[] c, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = alpha * s + beta * c[i * ldc + j];
            }
    }

    public static IEnumerable<object[]> Shapes()
    {
        foreach (var (m, n, k) in new[] { (0, 3, 2), (3, 0, 2), (2, 3, 0), (1, 1, 1), (5, 7, 3), (6, 32, 4), (7, 33, 9), (13, 8, 300), (64, 80, 144), (97, 41, 257), (108, 36, 700), (300, 200, 90), (700, 1, 40), (700, 40, 1), (1, 40, 700), (50, 48, 260), (64, 64, 64), (30, 300, 40) })
            foreach (var ta in new[] { false, true })
                foreach (var tb in new[] { false, true })
                    yield return [m, n, k, ta, tb];
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void GemmMatchesReference(int m, int n, int k, bool ta, bool tb)
    {
        var r = new Rng((ulong)(m * 1000 + n * 10 + k));
        int pad = 3;
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        var a = Rand(r, (ta ? k : m) * lda); var b = Rand(r, (tb ? n : k) * ldb);
        foreach (var (alpha, beta, withBias) in new[] { (1f, 0f, false), (1f, 1f, false), (0.5f, -0.25f, false), (1f, 0f, true), (0.5f, 1f, true), (1f, -0.25f, true) })
        {
            var c = Rand(r, m * ldc);
            var bias = withBias ? Rand(r, n) : null;
            var original = (float[])c.Clone();
            var expected = c.Select(v => (double)v).ToArray();
            NaiveGemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, expected, ldc);
            if (bias is not null) for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) expected[i * ldc + j] += bias[j];
            Gemm.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double e = expected[i * ldc + j];
                    Assert.True(Math.Abs(c[i * ldc + j] - e) <= 1e-4 * Math.Sqrt(k + 1) + 1e-5 * Math.Abs(e), $"C[{i},{j}] = {c[i * ldc + j]}, expected {e}");
                }
            for (int i = 0; i < m; i++)       // padding columns of C are never written
                for (int j = n; j < ldc; j++) Assert.Equal(original[i * ldc + j], c[i * ldc + j]);
        }
    }

    [Theory]
    [InlineData(true, 108, 36)]      // a GRU step: h·W_hhᵀ
    [InlineData(false, 36, 108)]     // its backward: dGH·W_hh
    [InlineData(false, 41, 300)]     // two k-blocks
    public void PackedOperandGivesTheSameRowsWhateverTheRowSplit(bool tb, int n, int k)
    {
        if (!Gemm.CanPack(n, k)) return;                 // no packed kernel on this CPU: Sgemm serves every product
        var r = new Rng(4);
        int m = 70;
        var a = Rand(r, m * k); var b = Rand(r, n * k); var bias = Rand(r, n);
        int ldb = tb ? k : n;
        var expected = new double[m * n];
        NaiveGemm(false, tb, m, n, k, 1f, a, k, b, ldb, 0f, expected, n);
        var packed = Gemm.Pack(tb, n, k, b, ldb, new float[Gemm.PackedSize(n, k)]);
        float[] Split(int rows)
        {
            var c = Rand(r, m * n);
            for (int r0 = 0; r0 < m; r0 += rows)
            {
                int h = Math.Min(rows, m - r0);
                Gemm.SgemmPacked(h, packed, 1f, a.AsSpan(r0 * k), k, 0f, c.AsSpan(r0 * n), n, bias);
            }
            return c;
        }
        var whole = Split(m);
        for (int i = 0; i < m * n; i++) Assert.True(Math.Abs(whole[i] - (expected[i] + bias[i % n])) <= 1e-4 * Math.Sqrt(k), $"C[{i / n},{i % n}]");
        Assert.Equal(whole, Split(32));
        Assert.Equal(whole, Split(5));
        // Sgemm reads a plain B in place and packs a transposed one: the same products in the same order.
        var direct = new float[m * n];
        Gemm.Sgemm(false, tb, m, n, k, 1f, a, k, b, ldb, 0f, direct, n, bias);
        Assert.Equal(whole, direct);
    }

    [Theory]
    [InlineData(false, true, 2000, 80, 144)]   // forward x·Wᵀ: one k-block
    [InlineData(true, false, 80, 144, 2000)]   // weight gradient gyᵀ·x: many k-blocks, A read in place
    [InlineData(false, false, 333, 97, 700)]
    [InlineData(false, true, 5000, 1, 40)]     // a one-output layer: rows split over threads
    [InlineData(false, false, 5000, 40, 1)]    // its input gradient
    public void GemmIsBitIdenticalForOneAndTwoThreads(bool ta, bool tb, int m, int n, int k)
    {
        var r = new Rng(3);
        var a = Rand(r, m * k); var b = Rand(r, n * k);
        int lda = ta ? m : k, ldb = tb ? k : n;
        float[] Run(int threads)
        {
            int old = Par.Threads;
            Par.Threads = threads;
            try { var c = new float[m * n]; Gemm.Sgemm(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, c, n); return c; }
            finally { Par.Threads = old; }
        }
        Assert.Equal(Run(1), Run(2));
    }

    private static int Width => System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? 16 : System.Numerics.Vector<float>.Count;

    [Fact]
    public void FusedBackwardKernelsMatchScalarAtEveryLength()
    {
        var r = new Rng(5);
        for (int n = 0; n <= 3 * Width + 1; n++)
        {
            var g = Rand(r, n); var y = Rand(r, n); var acc = Rand(r, n);
            var a1 = (float[])acc.Clone(); Simd.SigmoidBackwardAdd(g, y, a1);
            var a2 = (float[])acc.Clone(); Simd.TanhBackwardAdd(g, y, a2);
            var a3 = (float[])acc.Clone(); Simd.ReluBackwardAdd(g, y, a3);
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(acc[i] + g[i] * y[i] * (1 - y[i]), a1[i], 5);
                Assert.Equal(acc[i] + g[i] * (1 - y[i] * y[i]), a2[i], 5);
                Assert.Equal(acc[i] + (y[i] > 0 ? g[i] : 0), a3[i], 6);
            }
            var mat = Rand(r, 3 * n); var cs = new float[n]; Simd.ColumnSumAdd(mat, 3, n, cs);
            for (int j = 0; j < n; j++) Assert.Equal(mat[j] + mat[n + j] + mat[2 * n + j], cs[j], 5);
        }
    }

    [Fact]
    public void GruRowKernelsMatchDoublePrecisionAtEveryLength()
    {
        var r = new Rng(12);
        int max = 3 * System.Numerics.Vector<float>.Count + 1;
        for (int h = 1; h <= max; h++)
            for (int kind = 0; kind < 3; kind++)
            {
                float a = r.NextFloat();
                var gates = Rand(r, 4 * h); var hp = Rand(r, h); var dh = Rand(r, h); var gOut = Rand(r, h);
                for (int i = 0; i < 3 * h; i++) gates[i] = 0.5f + 0.45f * gates[i];          // r, z, n in (0.05, 0.95)
                var dhPrev = new float[h]; var dgi = new float[3 * h]; var dgh = new float[3 * h];
                float da = Simd.GruBackward(gates, hp, dh, gOut, kind, a, dhPrev, dgi, dgh);
                var inPlace = (float[])dh.Clone();                                             // the GRU op updates dh in place
                Simd.GruBackward(gates, hp, inPlace, gOut, kind, a, inPlace, new float[3 * h], new float[3 * h]);
                Assert.Equal(dhPrev, inPlace);
                double eda = 0;
                for (int i = 0; i < h; i++)
                {
                    double rr = gates[i], z = gates[h + i], n = gates[2 * h + i], hw = gates[3 * h + i], d = dh[i] + gOut[i];
                    double g = kind == 0 ? 1 - z : kind == 1 ? a : a * z, dg = d * (n - hp[i]);
                    double dn = d * g * (1 - n * n), dr = dn * hw * rr * (1 - rr);
                    double dz = kind == 0 ? -dg * z * (1 - z) : kind == 1 ? 0 : a * dg * z * (1 - z);
                    eda += kind == 1 ? dg : kind == 2 ? dg * z : 0;
                    string at = $"h {h}, kind {kind}, i {i}";
                    Assert.True(Math.Abs(dhPrev[i] - d * (1 - g)) < 1e-5, at + ": dh_prev");
                    Assert.True(Math.Abs(dgi[i] - dr) < 1e-5 && Math.Abs(dgi[h + i] - dz) < 1e-5 && Math.Abs(dgi[2 * h + i] - dn) < 1e-5, at + ": dGI");
                    Assert.True(Math.Abs(dgh[i] - dr) < 1e-5 && Math.Abs(dgh[h + i] - dz) < 1e-5 && Math.Abs(dgh[2 * h + i] - dn * rr) < 1e-5, at + ": dGH");
                }
                Assert.True(Math.Abs(da - eda) < 1e-4, $"h {h}, kind {kind}: da {da} vs {eda}");

                // Forward: pre-activations up to ±40 reach both saturated ends of σ and tanh.
                var gi = Rand(r, 3 * h); var gh = Rand(r, 3 * h);
                for (int i = 0; i < 3 * h; i++) { gi[i] *= i % 5 == 0 ? 40f : 3f; gh[i] *= 2f; }
                var outGates = new float[4 * h]; var next = new float[h];
                Simd.GruForward(gi, gh, hp, kind, a, outGates, next);
                for (int i = 0; i < h; i++)
                {
                    double rr = 1 / (1 + Math.Exp(-(gi[i] + (double)gh[i]))), z = 1 / (1 + Math.Exp(-(gi[h + i] + (double)gh[h + i])));
                    double n = Math.Tanh(gi[2 * h + i] + rr * gh[2 * h + i]), g = kind == 0 ? 1 - z : kind == 1 ? a : a * z;
                    string at = $"h {h}, kind {kind}, i {i}";
                    Assert.True(Math.Abs(outGates[i] - rr) < 1e-6 && Math.Abs(outGates[h + i] - z) < 1e-6, at + ": r, z");
                    Assert.True(Math.Abs(outGates[2 * h + i] - n) < 1e-6 && outGates[3 * h + i] == gh[2 * h + i], at + ": n, hW");
                    Assert.True(Math.Abs(next[i] - (hp[i] + g * (n - hp[i]))) < 1e-5, at + ": h'");
                }
            }
    }
}
