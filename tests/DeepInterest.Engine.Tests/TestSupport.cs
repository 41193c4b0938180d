using DeepInterest.Engine;
using DeepInterest.Engine.IO;

namespace DeepInterest.Engine.Tests;

/// <summary>Locations the tests read from: the repository's fixtures and the shared data beside it.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "DeepInterest.slnx"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (DeepInterest.slnx) above " + AppContext.BaseDirectory);
    }

    /// <summary>tests/fixtures: PyTorch parity fixtures written by tools/golden.</summary>
    public static string Fixtures => Path.Combine(RepoRoot, "tests", "fixtures");

    public static string Fixture(string name) => Path.Combine(Fixtures, name);

    /// <summary>../shared/data beside the repository (absent on some machines: tests skip).</summary>
    public static string SharedData => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data"));
}

/// <summary>Loads a parity fixture: a safetensors file of named float tensors.</summary>
public sealed class Fixture
{
    private readonly Dictionary<string, Tensor> _t;
    public string Name { get; }

    public Fixture(string file)
    {
        Name = file;
        var path = TestPaths.Fixture(file);
        Assert.True(File.Exists(path), $"Fixture {path} is missing: run the scripts in tools/golden (see tools/golden/README.md).");
        _t = SafeTensors.Load(path);
    }

    public bool Has(string key) => _t.ContainsKey(key);

    public IEnumerable<string> Keys => _t.Keys;

    public Tensor this[string key] => _t.TryGetValue(key, out var t) ? t : throw new KeyNotFoundException($"{Name}: no tensor '{key}' (has: {string.Join(", ", _t.Keys)})");

    /// <summary>A fresh copy that requires grad (so the fixture's own tensor is never mutated).</summary>
    public Tensor Param(string key) => Tensor.FromArray(this[key].ToArray(), this[key].Shape, requiresGrad: true);

    public int[] Ints(string key) => this[key].ToArray().Select(v => (int)v).ToArray();
}

public static class Close
{
    /// <summary>
    /// Asserts |actual − expected| ≤ atol + rtol·|expected| element-wise (parity: rtol 1e-5 with an
    /// atol of 1e-6 for values that are zero up to float32 rounding).
    /// </summary>
    public static void Equal(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double rtol = 1e-5, double atol = 1e-6, string what = "")
    {
        Assert.True(expected.Length == actual.Length, $"{what}: length {actual.Length}, expected {expected.Length}");
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) && double.IsNaN(a)) continue;
            if (Math.Abs(a - e) > atol + rtol * Math.Abs(e))
                Assert.Fail($"{what}[{i}]: got {a:R}, expected {e:R} (diff {Math.Abs(a - e):E2}, allowed {atol + rtol * Math.Abs(e):E2})");
        }
    }

    public static void Equal(Tensor expected, Tensor actual, double rtol = 1e-5, double atol = 1e-6, string what = "")
    {
        Assert.True(expected.Size == actual.Size, $"{what}: shape {actual.Shape}, expected {expected.Shape}");
        Equal(expected.Span, actual.Span, rtol, atol, what);
    }

    /// <summary>
    /// A parameter's gradient against PyTorch's (always dense): a row-sparse gradient (embedding tables)
    /// row by row, where a row we hold no gradient for must be zero in <paramref name="expected"/>.
    /// </summary>
    public static void Grad(Tensor expected, Tensor parameter, double rtol = 1e-4, double atol = 1e-6, string what = "")
    {
        if (parameter.SparseGrad is not { } sparse) { Equal(expected, parameter.Grad!, rtol, atol, what); return; }
        int width = parameter.Shape[1];
        for (int id = 0; id < parameter.Shape[0]; id++)
        {
            var want = expected.Span.Slice(id * width, width);
            var row = sparse.RowGrad(id);
            if (row.IsEmpty) { foreach (var v in want) Assert.True(Math.Abs(v) < 1e-7, $"{what}[{id}]: PyTorch has a gradient we lack"); continue; }
            Equal(want, row, rtol, atol, $"{what}[{id}]");
        }
    }
}

/// <summary>
/// Finite-difference gradient checks in float32. The scalar probed is L = Σ w ⊙ f(inputs) with
/// fixed random weights w (so every output element matters), summed in double. Central
/// differences with step h = 1e-3·max(1, |x|) have truncation error O(h²) and rounding error of
/// about 1e-7·|L|/h, so analytic and numeric slopes must agree within
/// |num − ana| ≤ atol + rtol·max(|num|, |ana|) with rtol = 2e-2 and atol = 2e-3·(1 + |L|/100):
/// loose enough for float32 noise, tight enough that a missing term or a wrong sign fails.
/// </summary>
public static class GradCheck
{
    public static void Check(Func<Tensor[], Tensor> f, Tensor[] inputs, double rtol = 2e-2, double atol = 2e-3, int seed = 7, Func<int, int, bool>? skip = null, string what = "")
    {
        foreach (var x in inputs) { x.RequiresGrad = true; x.Grad = null; x.SparseGrad?.Clear(); }
        var y0 = f(inputs);
        var rng = new Rng((ulong)seed);
        var w = new float[y0.Size];
        for (int i = 0; i < w.Length; i++) w[i] = rng.NextFloat() * 2f - 1f;
        var wt = Tensor.FromArray(w, y0.Shape);
        var loss = F.Sum(F.Mul(y0, wt));
        double lossValue = loss.Item();
        loss.Backward();
        var analytic = inputs.Select(x =>
        {
            var g = x.Grad?.ToArray() ?? new float[x.Size];
            if (x.SparseGrad is { } sg) sg.AddToDense(g);
            return g;
        }).ToArray();

        double Eval()
        {
            using var _ = Autograd.Tape.NoGrad();
            var y = f(inputs);
            double s = 0;
            var ys = y.Span;
            for (int i = 0; i < ys.Length; i++) s += (double)ys[i] * w[i];
            return s;
        }

        double scaleAtol = atol * (1 + Math.Abs(lossValue) / 100);
        for (int k = 0; k < inputs.Length; k++)
        {
            var x = inputs[k].Span;
            for (int i = 0; i < x.Length; i++)
            {
                if (skip?.Invoke(k, i) == true) continue;
                float orig = x[i];
                float h = 1e-3f * Math.Max(1f, Math.Abs(orig));
                x[i] = orig + h; double lp = Eval();
                x[i] = orig - h; double lm = Eval();
                x[i] = orig;
                double num = (lp - lm) / (2.0 * h);
                double ana = analytic[k][i];
                double err = Math.Abs(num - ana);
                if (err > scaleAtol + rtol * Math.Max(Math.Abs(num), Math.Abs(ana)))
                    Assert.Fail($"{what} input {k} element {i}: analytic {ana:G6} vs numeric {num:G6} (|diff| {err:E2})");
            }
        }
    }

    /// <summary>A tensor of uniform values in [lo, hi).</summary>
    public static Tensor Rand(Rng rng, Shape shape, float lo = -1f, float hi = 1f)
    {
        var t = new Tensor(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = lo + (hi - lo) * rng.NextFloat();
        return t;
    }
}

/// <summary>Runs a computation with <see cref="Kernels.Par.Threads"/> set, restoring it after (thread-count invariance tests).</summary>
public static class WithThreads
{
    public static T Run<T>(int threads, Func<T> f)
    {
        int old = Kernels.Par.Threads;
        Kernels.Par.Threads = threads;
        try { return f(); }
        finally { Kernels.Par.Threads = old; }
    }

    /// <summary>Asserts that <paramref name="run"/> returns bit-identical arrays with one and with two threads.</summary>
    public static void AssertSameForOneAndTwo(Func<int, float[][]> run)
    {
        var one = run(1); var two = run(2);
        Assert.Equal(one.Length, two.Length);
        for (int i = 0; i < one.Length; i++) Assert.Equal(one[i], two[i]);
    }
}
