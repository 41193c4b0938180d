using System.Numerics;
using DeepInterest.Engine.Kernels;

namespace DeepInterest.Engine.Tests;

/// <summary>
/// BatchNorm, Dice's gate and PReLU (row-blocked, vectorized, split over threads) against scalar
/// double references at every channel count up to 3 × the vector width + 1, with batches that span
/// several 256-row blocks; results must not depend on the thread count.
/// </summary>
public class ChannelKernelTests
{
    private static readonly int MaxC = 3 * Vector<float>.Count + 1;

    private static float[] Rand(Rng r, int n, float lo = -2f, float hi = 2f)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = lo + (hi - lo) * r.NextFloat();
        return v;
    }

    private static bool[] RandMask(Rng r, int rows)
    {
        var m = new bool[rows];
        for (int i = 0; i < rows; i++) m[i] = r.NextFloat() < 0.7f;
        return m;
    }

    public static TheoryData<int, bool, bool> BatchNormCases()
    {
        var d = new TheoryData<int, bool, bool>();
        foreach (int rows in new[] { 1, 7, 600 })
            foreach (bool training in new[] { true, false })
                foreach (bool masked in new[] { false, true })
                    d.Add(rows, training, masked);
        return d;
    }

    [Theory]
    [MemberData(nameof(BatchNormCases))]
    public void BatchNormMatchesScalarReference(int rows, bool training, bool masked)
    {
        var r = new Rng(3);
        for (int c = 1; c <= MaxC; c++)
        {
            float[] x = Rand(r, rows * c), w = Rand(r, c, 0.5f, 1.5f), b = Rand(r, c), gy = Rand(r, rows * c), rm0 = Rand(r, c), rv0 = Rand(r, c, 0.5f, 2f);
            bool[]? mask = masked ? RandMask(r, rows) : null;
            const float eps = 1e-5f, momentum = 0.1f;
            var tx = Tensor.FromArray(x, new Shape(1, rows, c), requiresGrad: true);
            var tw = Tensor.FromArray(w, new Shape(c), requiresGrad: true);
            var tb = Tensor.FromArray(b, new Shape(c), requiresGrad: true);
            var rm = Tensor.FromArray((float[])rm0.Clone(), new Shape(c));
            var rv = Tensor.FromArray((float[])rv0.Clone(), new Shape(c));
            var y = F.BatchNorm(tx, rm, rv, tw, tb, training, momentum, eps, mask is null ? null : new Mask(mask, 1, rows));
            F.Sum(F.Mul(y, Tensor.FromArray(gy, new Shape(1, rows, c)))).Backward();

            bool Real(int i) => mask is null || mask[i];
            int n = Enumerable.Range(0, rows).Count(Real);
            var ey = new double[rows * c]; var edx = new double[rows * c]; var edw = new double[c]; var edb = new double[c];
            for (int k = 0; k < c; k++)
            {
                double mean, var;
                if (training && n > 0)
                {
                    mean = Enumerable.Range(0, rows).Where(Real).Average(i => (double)x[i * c + k]);
                    var = Enumerable.Range(0, rows).Where(Real).Average(i => Math.Pow(x[i * c + k] - mean, 2));
                }
                else if (training) { mean = 0; var = 1; }
                else { mean = rm0[k]; var = rv0[k]; }
                double inv = 1 / Math.Sqrt(var + eps);
                double sg = 0, sgh = 0;
                for (int i = 0; i < rows; i++)
                {
                    if (!Real(i)) continue;
                    double h = (x[i * c + k] - mean) * inv;
                    ey[i * c + k] = h * w[k] + b[k];
                    sg += gy[i * c + k]; sgh += gy[i * c + k] * h;
                }
                edw[k] = sgh; edb[k] = sg;
                for (int i = 0; i < rows; i++)
                {
                    if (!Real(i)) continue;
                    double h = (x[i * c + k] - mean) * inv;
                    edx[i * c + k] = training && n > 0 ? w[k] * inv * (gy[i * c + k] - sg / n - h * sgh / n) : w[k] * inv * gy[i * c + k];
                }
            }
            string what = $"rows {rows}, C {c}, training {training}, masked {masked}";
            Close.Equal(ey.Select(v => (float)v).ToArray(), y.ToArray(), 1e-4, 1e-4, what + ": y");
            Close.Equal(edx.Select(v => (float)v).ToArray(), tx.Grad!.ToArray(), 1e-3, 1e-4, what + ": dx");
            Close.Equal(edw.Select(v => (float)v).ToArray(), tw.Grad!.ToArray(), 1e-4, 1e-3, what + ": dγ");
            Close.Equal(edb.Select(v => (float)v).ToArray(), tb.Grad!.ToArray(), 1e-4, 1e-3, what + ": dβ");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(600)]
    public void DiceGateAndPReluMatchScalarReference(int rows)
    {
        var r = new Rng(5);
        for (int c = 1; c <= MaxC; c++)
        {
            float[] x = Rand(r, rows * c), z = Rand(r, rows * c), a = Rand(r, c, -0.5f, 0.5f), gy = Rand(r, rows * c);
            var tx = Tensor.FromArray(x, new Shape(rows, c), requiresGrad: true);
            var tz = Tensor.FromArray(z, new Shape(rows, c), requiresGrad: true);
            var ta = Tensor.FromArray(a, new Shape(c), requiresGrad: true);
            var tg = Tensor.FromArray(gy, new Shape(rows, c));
            var y = F.DiceGate(tx, tz, ta);
            F.Sum(F.Mul(y, tg)).Backward();
            var ey = new float[rows * c]; var edx = new float[rows * c]; var edz = new float[rows * c]; var eda = new double[c];
            for (int i = 0; i < rows * c; i++)
            {
                int k = i % c;
                double p = 1 / (1 + Math.Exp(-z[i]));
                ey[i] = (float)(x[i] * (a[k] + p * (1 - a[k])));
                edx[i] = (float)(gy[i] * (a[k] + p * (1 - a[k])));
                edz[i] = (float)(gy[i] * x[i] * p * (1 - p) * (1 - a[k]));
                eda[k] += gy[i] * x[i] * (1 - p);
            }
            string what = $"dice rows {rows}, C {c}";
            Close.Equal(ey, y.ToArray(), 1e-5, 1e-6, what + ": y");
            Close.Equal(edx, tx.Grad!.ToArray(), 1e-5, 1e-6, what + ": dx");
            Close.Equal(edz, tz.Grad!.ToArray(), 1e-5, 1e-6, what + ": dz");
            Close.Equal(eda.Select(v => (float)v).ToArray(), ta.Grad!.ToArray(), 1e-4, 1e-3, what + ": dα");

            foreach (bool shared in new[] { false, true })
            {
                var px = Tensor.FromArray(x, new Shape(rows, c), requiresGrad: true);
                var pa = Tensor.FromArray(shared ? [a[0]] : a, new Shape(shared ? 1 : c), requiresGrad: true);
                var py = F.PRelu(px, pa);
                F.Sum(F.Mul(py, tg)).Backward();
                var pdx = new float[rows * c]; var pda = new double[pa.Size];
                for (int i = 0; i < rows * c; i++)
                {
                    float s = shared ? a[0] : a[i % c];
                    ey[i] = x[i] > 0 ? x[i] : s * x[i];
                    pdx[i] = x[i] > 0 ? gy[i] : s * gy[i];
                    if (x[i] <= 0) pda[shared ? 0 : i % c] += gy[i] * x[i];
                }
                what = $"prelu rows {rows}, C {c}, shared {shared}";
                Close.Equal(ey, py.ToArray(), 1e-6, 1e-7, what + ": y");
                Close.Equal(pdx, px.Grad!.ToArray(), 1e-6, 1e-7, what + ": dx");
                Close.Equal(pda.Select(v => (float)v).ToArray(), pa.Grad!.ToArray(), 1e-4, 1e-3, what + ": dα");
            }
        }
    }

    [Fact]
    public void ResultsDoNotDependOnTheThreadCount()
    {
        const int rows = 3000, c = 40;     // many blocks: the row loops and block sums split over threads
        var r = new Rng(9);
        float[] x = Rand(r, rows * c), gy = Rand(r, rows * c), a = Rand(r, c, -0.5f, 0.5f);
        float[][] Run(int threads) => WithThreads.Run<float[][]>(threads, () =>
        {
            var tx = Tensor.FromArray(x, new Shape(rows, c), requiresGrad: true);
            var ta = Tensor.FromArray(a, new Shape(c), requiresGrad: true);
            var tp = Tensor.FromArray(a, new Shape(c), requiresGrad: true);
            var rm = new Tensor(new Shape(c)); var rv = Tensor.Full(new Shape(c), 1f);
            var z = F.BatchNorm(tx, rm, rv, null, null, true, 0.1f, 1e-8f);
            var y = F.PRelu(F.DiceGate(tx, z, ta), tp);
            F.Sum(F.Mul(y, Tensor.FromArray(gy, new Shape(rows, c)))).Backward();
            return [y.ToArray(), tx.Grad!.ToArray(), ta.Grad!.ToArray(), tp.Grad!.ToArray(), rm.ToArray(), rv.ToArray()];
        });
        WithThreads.AssertSameForOneAndTwo(Run);
    }

    [Fact]
    public void RowSplitOpsMatchReferenceAndDoNotDependOnTheThreadCount()
    {
        // Sizes above the split thresholds: embedding lookups, concatenation and attention pooling run on two threads.
        int b = 200, t = 30, e = 18, v = 5000;
        var r = new Rng(21);
        var ids = new int[b * t];
        for (int i = 0; i < ids.Length; i++) ids[i] = r.NextInt(v);
        var lengths = Enumerable.Range(0, b).Select(i => i % (t + 1)).ToArray();
        float[] table = Rand(r, v * e), other = Rand(r, b * t * 5), w = Rand(r, b * t), g = Rand(r, b * (e + 5));
        float[][] Run(int threads) => WithThreads.Run<float[][]>(threads, () =>
        {
            var tt = Tensor.FromArray(table, new Shape(v, e), requiresGrad: true);
            tt.HasSparseGrad = false;
            var to = Tensor.FromArray(other, new Shape(b, t, 5), requiresGrad: true);
            var tw = Tensor.FromArray(w, new Shape(b, t), requiresGrad: true);
            var emb = F.Embedding(tt, new IntTensor(ids, new Shape(b, t)));
            var cat = F.ConcatLast(emb, to);                                            // [B, T, E + 5]
            var pooled = F.WeightedSum(tw, cat, Mask.FromLengths(lengths, t));           // [B, E + 5]
            F.Sum(F.Mul(pooled, Tensor.FromArray(g, new Shape(b, e + 5)))).Backward();
            return [emb.ToArray(), cat.ToArray(), pooled.ToArray(), tt.Grad!.ToArray(), to.Grad!.ToArray(), tw.Grad!.ToArray()];
        });
        WithThreads.AssertSameForOneAndTwo(Run);
        var one = Run(1);
        // Reference values for a few entries.
        for (int i = 0; i < b * t; i += 97)
            for (int j = 0; j < e; j++) Assert.Equal(table[ids[i] * e + j], one[1][i * (e + 5) + j]);
        for (int i = 0; i < b; i += 13)
            for (int j = 0; j < e + 5; j++)
            {
                double s = 0;
                for (int k = 0; k < lengths[i]; k++)
                    s += w[i * t + k] * (j < e ? table[ids[i * t + k] * e + j] : other[(i * t + k) * 5 + j - e]);
                Assert.True(Math.Abs(one[2][i * (e + 5) + j] - s) < 1e-4, $"pooled[{i},{j}]");
            }
    }
}
