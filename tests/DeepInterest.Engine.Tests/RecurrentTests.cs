using DeepInterest.Engine;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Modules;

namespace DeepInterest.Engine.Tests;

public class RecurrentTests
{
    private readonly Rng _rng = new(21);

    private static Tensor Both(RnnResult r) =>
        F.ConcatLast(F.Reshape(r.Outputs, new Shape(r.Outputs.Shape[0], r.Outputs.Shape[1] * r.Outputs.Shape[2])), r.Last);

    [Theory]
    [InlineData(GruKind.Gru)]
    [InlineData(GruKind.Agru)]
    [InlineData(GruKind.Augru)]
    public void GradientsWithRaggedLengths(GruKind kind)
    {
        int b = 4, t = 4, i = 3, h = 3;
        var lengths = new IntTensor([3, 1, 0, 4]);
        var x = GradCheck.Rand(_rng, new Shape(b, t, i));
        var wih = GradCheck.Rand(_rng, new Shape(3 * h, i));
        var whh = GradCheck.Rand(_rng, new Shape(3 * h, h));
        var bih = GradCheck.Rand(_rng, new Shape(3 * h));
        var bhh = GradCheck.Rand(_rng, new Shape(3 * h));
        var h0 = GradCheck.Rand(_rng, new Shape(b, h));
        var a = GradCheck.Rand(_rng, new Shape(b, t), 0.05f, 0.95f);
        GradCheck.Check(p => Both(F.Gru(p[0], lengths, p[1], p[2], p[3], p[4], p[5], kind, kind == GruKind.Gru ? null : p[6])),
            [x, wih, whh, bih, bhh, h0, a], what: kind.ToString());
    }

    [Theory]
    [InlineData(GruKind.Gru)]
    [InlineData(GruKind.Augru)]
    public void RowParallelStepsAreBitIdenticalForOneAndTwoThreads(GruKind kind)
    {
        // 160 rows = 5 row blocks, split over the threads in forward and backward.
        int b = 160, t = 7, i = 12, h = 40;
        var r = new Rng(8);
        var lengths = new IntTensor(Enumerable.Range(0, b).Select(k => k % (t + 1)).ToArray());
        float[] x = GradCheck.Rand(r, new Shape(b, t, i)).ToArray(), wih = GradCheck.Rand(r, new Shape(3 * h, i)).ToArray();
        float[] whh = GradCheck.Rand(r, new Shape(3 * h, h)).ToArray(), bhh = GradCheck.Rand(r, new Shape(3 * h)).ToArray();
        float[] a = GradCheck.Rand(r, new Shape(b, t), 0.05f, 0.95f).ToArray(), w = GradCheck.Rand(r, new Shape(b, t, h)).ToArray();
        float[][] Run(int threads) => WithThreads.Run<float[][]>(threads, () =>
        {
            var px = Tensor.FromArray(x, new Shape(b, t, i), requiresGrad: true);
            var pwih = Tensor.FromArray(wih, new Shape(3 * h, i), requiresGrad: true);
            var pwhh = Tensor.FromArray(whh, new Shape(3 * h, h), requiresGrad: true);
            var pbhh = Tensor.FromArray(bhh, new Shape(3 * h), requiresGrad: true);
            var pa = Tensor.FromArray(a, new Shape(b, t), requiresGrad: true);
            var res = F.Gru(px, lengths, pwih, pwhh, null, pbhh, null, kind, kind == GruKind.Gru ? null : pa);
            F.Add(F.Sum(F.Mul(res.Outputs, Tensor.FromArray(w, new Shape(b, t, h)))), F.Sum(res.Last)).Backward();
            return [res.Outputs.ToArray(), px.Grad!.ToArray(), pwih.Grad!.ToArray(), pwhh.Grad!.ToArray(), pbhh.Grad!.ToArray(), kind == GruKind.Gru ? [] : pa.Grad!.ToArray()];
        });
        WithThreads.AssertSameForOneAndTwo(Run);
    }

    [Fact]
    public void ABatchEqualsItsRowsRunAlone()
    {
        // Rows are visited in length order, in blocks of 32: every row must still get exactly its own result.
        int b = 75, t = 9, i = 4, h = 5;
        var r = new Rng(31);
        var lens = Enumerable.Range(0, b).Select(_ => r.NextInt(t + 1)).ToArray();
        var gru = new Gru(i, h, new Rng(6));
        var x = GradCheck.Rand(r, new Shape(b, t, i));
        var h0 = GradCheck.Rand(r, new Shape(b, h));
        var all = F.Gru(x, new IntTensor(lens), gru.NamedParameters().ElementAt(0).Parameter, gru.NamedParameters().ElementAt(1).Parameter,
            gru.NamedParameters().ElementAt(2).Parameter, gru.NamedParameters().ElementAt(3).Parameter, h0);
        for (int row = 0; row < b; row++)
        {
            var xr = Tensor.FromArray(x.Span.Slice(row * t * i, t * i).ToArray(), new Shape(1, t, i));
            var hr = Tensor.FromArray(h0.Span.Slice(row * h, h).ToArray(), new Shape(1, h));
            var one = F.Gru(xr, new IntTensor([lens[row]]), gru.NamedParameters().ElementAt(0).Parameter, gru.NamedParameters().ElementAt(1).Parameter,
                gru.NamedParameters().ElementAt(2).Parameter, gru.NamedParameters().ElementAt(3).Parameter, hr);
            Close.Equal(one.Outputs.Span, all.Outputs.Span.Slice(row * t * h, t * h), 1e-5, 1e-6, $"row {row} outputs");
            Close.Equal(one.Last.Span, all.Last.Span.Slice(row * h, h), 1e-5, 1e-6, $"row {row} last");
        }
    }

    [Theory]
    [InlineData(GruKind.Gru)]
    [InlineData(GruKind.Augru)]
    public void ScoringWithoutGradientsGivesTheTrainingForwardBitForBit(GruKind kind)
    {
        // Without a backward the gates are not kept (one scratch row each): the outputs must not change.
        int b = 70, t = 8, i = 5, h = 12;
        var r = new Rng(41);
        var lens = new IntTensor(Enumerable.Range(0, b).Select(_ => r.NextInt(t + 1)).ToArray());
        var gru = new Gru(i, h, new Rng(7), kind);
        var x = GradCheck.Rand(r, new Shape(b, t, i));
        var a = GradCheck.Rand(r, new Shape(b, t), 0.05f, 0.95f);
        var scores = kind == GruKind.Gru ? null : a;
        var trained = gru.Forward(x, lens, scores);
        Assert.True(trained.Outputs.RequiresGrad);
        float[] outputs = trained.Outputs.ToArray(), last = trained.Last.ToArray();
        Tape.Clear();
        using (Tape.NoGrad())
        {
            var scored = gru.Forward(x, lens, scores);
            Assert.Equal(outputs, scored.Outputs.ToArray());
            Assert.Equal(last, scored.Last.ToArray());
        }
    }

    [Fact]
    public void StateStopsAfterLengthAndPaddingIsIgnored()
    {
        var gru = new Gru(3, 4, new Rng(2));
        var lengths = new IntTensor([2, 5, 0]);
        var x = GradCheck.Rand(_rng, new Shape(3, 5, 3));
        var r1 = gru.Forward(x, lengths);
        var outs = r1.Outputs.ToArray();
        Assert.Equal(outs.AsSpan((0 * 5 + 1) * 4, 4).ToArray(), r1.Last.ToArray()[0..4]);   // last = state at len − 1
        Assert.All(outs.AsSpan((0 * 5 + 2) * 4, 12).ToArray(), v => Assert.Equal(0f, v));   // zero after the length
        Assert.Equal(new float[4], r1.Last.ToArray()[8..12]);                                 // length 0 → h0 = 0
        for (int s = 2; s < 5; s++) x.Span.Slice((0 * 5 + s) * 3, 3).Fill(9f);
        x.Span.Slice(2 * 5 * 3, 15).Fill(-4f);
        var r2 = gru.Forward(x, lengths);
        Assert.Equal(r1.Outputs.ToArray(), r2.Outputs.ToArray());
        Assert.Equal(r1.Last.ToArray(), r2.Last.ToArray());
        Assert.Equal(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"], gru.StateDict().Select(kv => kv.Key));
    }

    [Fact]
    public void ReusedArenaBuffersDoNotLeakIntoPaddedSteps()
    {
        // Outputs and step gradients come from arena buffers without zero-filling; every padded step
        // must still be written. Dirty the arena's buffers first, then compare with a run outside it.
        int b = 70, t = 6, i = 5, h = 9;
        var gru = new Gru(i, h, new Rng(4));
        var lengths = new IntTensor(Enumerable.Range(0, b).Select(k => k % (t + 1)).ToArray());
        var x = GradCheck.Rand(_rng, new Shape(b, t, i));
        var w = GradCheck.Rand(_rng, new Shape(b, t, h));
        float[][] Run()
        {
            x.RequiresGrad = true; x.Grad = null;
            foreach (var (_, p) in gru.NamedParameters()) p.Grad = null;
            var res = gru.Forward(x, lengths);
            F.Add(F.Sum(F.Mul(res.Outputs, w)), F.Sum(res.Last)).Backward();
            return [res.Outputs.ToArray(), x.Grad!.ToArray(), gru.NamedParameters().First().Parameter.Grad!.ToArray()];
        }
        var clean = Run();
        using (Arena.Begin())                          // NaN in several buffers of every size class up to 64K floats
            for (int j = 4; j <= 16; j++)
                for (int k = 0; k < 8; k++) Tensor.Empty(new Shape(1 << j)).Span.Fill(float.NaN);
        float[][] dirty;
        using (Arena.Begin()) dirty = Run();
        for (int k = 0; k < clean.Length; k++) Assert.Equal(clean[k], dirty[k]);
    }

    [Theory]
    [InlineData("gru")]
    [InlineData("agru")]
    [InlineData("augru")]
    public void MatchesPyTorch(string kind)
    {
        var f = new Fixture("rnn_gru.safetensors");
        var x = f.Param("x");
        var ps = new[] { "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0" }.Select(n => f.Param("gru." + n)).ToArray();
        var lengths = new IntTensor(f.Ints("lengths"));
        Tensor? scores = kind == "gru" ? null : f.Param(kind + ".scores");
        var gk = kind switch { "gru" => GruKind.Gru, "agru" => GruKind.Agru, _ => GruKind.Augru };
        var r = F.Gru(x, lengths, ps[0], ps[1], ps[2], ps[3], null, gk, scores);
        Close.Equal(f[kind + ".out"], r.Outputs, what: "outputs");
        Close.Equal(f[kind + ".last"], r.Last, what: "last");
        F.Add(F.Sum(F.Mul(r.Outputs, f["w_out"])), F.Sum(F.Mul(r.Last, f["w_last"]))).Backward();
        Close.Equal(f[kind + ".x.grad"], x.Grad!, rtol: 2e-5, what: "x.grad");
        string[] names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"];
        for (int i = 0; i < 4; i++)
            Close.Equal(f[$"{kind}.{names[i]}.grad"], ps[i].Grad!, rtol: 2e-5, atol: 2e-6, what: names[i] + ".grad");
        if (scores is not null) Close.Equal(f[kind + ".scores.grad"], scores.Grad!, rtol: 2e-5, what: "scores.grad");
    }
}
