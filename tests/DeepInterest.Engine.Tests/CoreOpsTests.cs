using DeepInterest.Engine;
using DeepInterest.Engine.Autograd;

namespace DeepInterest.Engine.Tests;

public class CoreOpsTests
{
    private readonly Rng _rng = new(42);

    [Theory]
    [InlineData(new[] { 3, 4 }, new[] { 3, 4 })]
    [InlineData(new[] { 3, 4 }, new[] { 4 })]
    [InlineData(new[] { 3, 4 }, new[] { 3, 1 })]
    [InlineData(new[] { 2, 3, 4 }, new[] { 1, 3, 1 })]
    [InlineData(new[] { 2, 1, 4 }, new[] { 3, 1 })]
    [InlineData(new[] { 1 }, new[] { 2, 2, 3, 5 })]
    public void BinaryOpsBroadcastGradients(int[] sa, int[] sb)
    {
        foreach (var op in new Func<Tensor, Tensor, Tensor>[] { F.Add, F.Sub, F.Mul, F.Div })
        {
            var a = GradCheck.Rand(_rng, Shape.Of(sa));
            var b = GradCheck.Rand(_rng, Shape.Of(sb), 0.5f, 1.5f);   // away from 0 for Div
            GradCheck.Check(x => op(x[0], x[1]), [a, b], what: op.Method.Name);
        }
    }

    [Fact]
    public void BroadcastValues()
    {
        var a = Tensor.FromArray([1, 2, 3, 4, 5, 6], 2, 3);
        var b = Tensor.FromArray([10, 20, 30], 3);
        var c = Tensor.FromArray([100, 200], 2, 1);
        Assert.Equal([11, 22, 33, 14, 25, 36], (a + b).ToArray());
        Assert.Equal([101, 102, 103, 204, 205, 206], (a + c).ToArray());
        Assert.Equal([-9, -18, -27, -6, -15, -24], (a - b).ToArray());
        Assert.Throws<ArgumentException>(() => a + Tensor.FromArray([1, 2], 2));
    }

    [Fact]
    public void UnaryAndScalarGradients()
    {
        var x = GradCheck.Rand(_rng, new Shape(5, 7), -3f, 3f);
        GradCheck.Check(t => F.Sigmoid(t[0]), [x], what: "sigmoid");
        GradCheck.Check(t => F.Tanh(t[0]), [x], what: "tanh");
        GradCheck.Check(t => F.Relu(t[0]), [x], skip: (_, i) => Math.Abs(x.Span[i]) < 1e-2f, what: "relu");
        GradCheck.Check(t => F.MulScalar(F.AddScalar(t[0], 0.5f), -2f), [x], what: "scalar");
        GradCheck.Check(t => F.RSub(1f, t[0]), [x], what: "rsub");
    }

    [Fact]
    public void ReductionsAndReshape()
    {
        var x = GradCheck.Rand(_rng, new Shape(2, 3, 4));
        GradCheck.Check(t => F.Mean(t[0]), [x], what: "mean");
        GradCheck.Check(t => F.SumLastAxis(t[0]), [x], what: "sumLast");
        GradCheck.Check(t => F.Tanh(F.Reshape(t[0], new Shape(6, 4))), [x], what: "reshape");
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void MatMulGradients(bool ta, bool tb)
    {
        int m = 3, k = 5, n = 4;
        var a = GradCheck.Rand(_rng, ta ? new Shape(2, k, m) : new Shape(2, m, k));
        var b = GradCheck.Rand(_rng, tb ? new Shape(2, n, k) : new Shape(2, k, n));
        GradCheck.Check(t => F.MatMul(t[0], t[1], ta, tb), [a, b], what: $"bmm {ta} {tb}");
        var a2 = GradCheck.Rand(_rng, ta ? new Shape(k, m) : new Shape(m, k));
        var b2 = GradCheck.Rand(_rng, tb ? new Shape(n, k) : new Shape(k, n));
        GradCheck.Check(t => F.MatMul(t[0], t[1], ta, tb), [a2, b2], what: $"mm {ta} {tb}");
    }

    [Fact]
    public void MatMulValues()
    {
        var a = Tensor.FromArray([1, 2, 3, 4, 5, 6], 2, 3);
        var b = Tensor.FromArray([1, 0, 0, 1, 1, 1], 3, 2);
        Assert.Equal([4, 5, 10, 11], F.MatMul(a, b).ToArray());
        Assert.Equal([14, 32, 32, 77], F.MatMul(a, a, transB: true).ToArray());
    }

    [Fact]
    public void LinearGradientsOver2DAnd3D()
    {
        var w = GradCheck.Rand(_rng, new Shape(4, 6));
        var b = GradCheck.Rand(_rng, new Shape(4));
        GradCheck.Check(t => F.Linear(t[0], t[1], t[2]), [GradCheck.Rand(_rng, new Shape(5, 6)), w, b], what: "linear 2d");
        GradCheck.Check(t => F.Linear(t[0], t[1], t[2]), [GradCheck.Rand(_rng, new Shape(2, 3, 6)), w, b], what: "linear 3d");
        GradCheck.Check(t => F.Linear(t[0], t[1]), [GradCheck.Rand(_rng, new Shape(3, 6)), w], what: "linear no bias");
    }

    [Fact]
    public void GradientsAccumulateAcrossBackwardCalls()
    {
        var x = Tensor.FromArray([1f, 2f, 3f], 3);
        x.RequiresGrad = true;
        F.Sum(F.MulScalar(x, 2f)).Backward();
        F.Sum(F.MulScalar(x, 3f)).Backward();
        Assert.Equal([5f, 5f, 5f], x.Grad!.ToArray());
        x.ZeroGrad();
        Assert.Equal([0f, 0f, 0f], x.Grad!.ToArray());
    }

    [Fact]
    public void DeepChainBackwardIsIterative()
    {
        // 20,000 recorded ops: a recursive backward would overflow the stack.
        var x = Tensor.FromArray([0.5f], 1);
        x.RequiresGrad = true;
        var y = x;
        for (int i = 0; i < 20_000; i++) y = F.AddScalar(y, 1e-4f);
        F.Sum(y).Backward();
        Assert.Equal(1f, x.Grad!.Span[0]);
        Assert.Equal(0, Tape.Count);
    }

    [Fact]
    public void NoGradRecordsNothing()
    {
        var x = Tensor.FromArray([1f, 2f], 2);
        x.RequiresGrad = true;
        using (Tape.NoGrad())
        {
            var y = F.Sigmoid(x);
            Assert.False(y.RequiresGrad);
            Assert.Equal(0, Tape.Count);
        }
    }

    [Fact]
    public void ArenaReusesBuffersAndAllocatesNothingAfterWarmUp()
    {
        var w = GradCheck.Rand(_rng, new Shape(16, 32)); w.RequiresGrad = true;
        var xdata = GradCheck.Rand(_rng, new Shape(64, 32));
        void Step()
        {
            using var arena = Arena.Begin();
            var x = Tensor.Empty(xdata.Shape);
            xdata.Span.CopyTo(x.Span);
            var loss = F.Mean(F.Sigmoid(F.Linear(x, w)));
            loss.Backward();
        }
        for (int i = 0; i < 3; i++) Step();
        // The least over several windows of 10 steps: a step that allocates does so in every window,
        // while the runtime may allocate once on this thread (the JIT recompiling a hot method at a
        // higher tier), which must not fail the test. One such window once read 568 bytes a step.
        long least = long.MaxValue;
        for (int window = 0; window < 5 && least > 0; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++) Step();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.True(least == 0, $"every window of 10 warmed-up steps allocated; the least was {least} bytes ({least / 10.0:F0} a step)");
    }

    [Fact]
    public void ShapeValidation()
    {
        Assert.Throws<ArgumentException>(() => new Shape(-1, 2));
        Assert.Throws<ArgumentException>(() => F.Reshape(Tensor.Zeros(new Shape(2, 3)), new Shape(4, 2)));
        Assert.Throws<ArgumentException>(() => F.Linear(Tensor.Zeros(new Shape(2, 3)), Tensor.Zeros(new Shape(4, 5))));
        Assert.Equal(6, new Shape(2, 3, 4).Rows);
        Assert.Equal("[2, 3, 4]", new Shape(2, 3, 4).ToString());
    }
}
