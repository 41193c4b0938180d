using DeepInterest.Engine;
using DeepInterest.Engine.Modules;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Modules;

namespace DeepInterest.Engine.Tests;

/// <summary>Gradient checks and behaviour of the ops DIN is built from (embedding, masking, pooling, norms, losses).</summary>
public class DinOpsTests
{
    private readonly Rng _rng = new(11);
    private static readonly int[] Lengths = [3, 1, 0, 4];
    private static Mask M4 => Mask.FromLengths(Lengths, 4);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EmbeddingGradientIsRowSparseAndSkipsPadding(bool sparse)
    {
        var table = GradCheck.Rand(_rng, new Shape(6, 3));
        table.Span[..3].Clear();
        table.HasSparseGrad = sparse;
        var ids = new IntTensor([2, 0, 5, 2, 1, 0], new Shape(2, 3));
        GradCheck.Check(x => F.Embedding(x[0], ids), [table], skip: (_, i) => i < 3, what: "embedding");
        table.Grad = null; table.SparseGrad?.Clear();
        F.Sum(F.Embedding(table, ids)).Backward();
        var g = table.Grad?.ToArray() ?? new float[table.Size];
        table.SparseGrad?.AddToDense(g);
        Assert.Equal([0f, 0f, 0f], g[..3]);                  // padding row: no gradient
        Assert.Equal([2f, 2f, 2f], g[6..9]);                 // id 2 appears twice
        Assert.Equal(sparse, table.SparseGrad is { Count: 3 });
    }

    [Fact]
    public void EmbeddingConcatIsLookupsThenConcatInOnePass()
    {
        // Bit for bit ConcatLast of the lookups, forward and backward, for a row-sparse and a dense
        // table of different widths; id 0 gets no gradient.
        var items = GradCheck.Rand(_rng, new Shape(7, 3)); items.Span[..3].Clear(); items.HasSparseGrad = true;
        var cats = GradCheck.Rand(_rng, new Shape(4, 2)); cats.Span[..2].Clear();
        items.RequiresGrad = true; cats.RequiresGrad = true;
        var itemIds = new IntTensor([2, 0, 5, 2, 1, 6], new Shape(2, 3));
        var catIds = new IntTensor([1, 0, 3, 1, 1, 2], new Shape(2, 3));
        var w = GradCheck.Rand(_rng, new Shape(2, 3, 5));
        (float[] Y, float[] GItems, float[] GCats) Run(bool fused)
        {
            items.Grad = null; items.SparseGrad?.Clear(); cats.Grad = null;
            var y = fused ? F.EmbeddingConcat([items, cats], [itemIds, catIds]) : F.ConcatLast([F.Embedding(items, itemIds), F.Embedding(cats, catIds)]);
            F.Sum(F.Mul(y, w)).Backward();
            var gi = new float[items.Size]; items.SparseGrad!.AddToDense(gi);
            return (y.ToArray(), gi, cats.Grad!.ToArray());
        }
        var fused = Run(true);
        var twoStep = Run(false);
        Assert.Equal(twoStep.Y, fused.Y);
        Assert.Equal(twoStep.GItems, fused.GItems);
        Assert.Equal(twoStep.GCats, fused.GCats);
        Assert.Equal([0f, 0f, 0f], fused.GItems[..3]);
        GradCheck.Check(t => F.EmbeddingConcat([t[0], t[1]], [itemIds, catIds]), [items, cats], skip: (k, i) => k == 0 ? i < 3 : i < 2, what: "embedding concat");
        Assert.Throws<ArgumentException>(() => F.EmbeddingConcat([items, cats], [itemIds, new IntTensor([1, 2], new Shape(2))]));
        Assert.Throws<ArgumentException>(() => F.EmbeddingConcat([items], [new IntTensor([7], new Shape(1))]));
    }

    [Theory]
    [InlineData(F.Pooling.Sum, true)]
    [InlineData(F.Pooling.Mean, false)]
    public void EmbeddingBagIsLookupThenPoolInOnePass(F.Pooling kind, bool sparse)
    {
        // Bit for bit the lookup followed by masked pooling, forward and backward; padded positions
        // (whatever their id) and id 0 add nothing; a row with no real position pools to zeros.
        var table = GradCheck.Rand(_rng, new Shape(7, 3));
        table.Span[..3].Clear();
        table.HasSparseGrad = sparse;
        var ids = new IntTensor([2, 5, 6, 4, 3, 3, 1, 2, 0, 0, 0, 0, 5, 0, 2, 2], new Shape(4, 4));   // lengths 3, 1, 0, 4
        GradCheck.Check(x => F.EmbeddingBag(x[0], ids, M4, kind), [table], skip: (_, i) => i < 3, what: $"embedding bag {kind}");
        float[] Grad()
        {
            var g = table.Grad?.ToArray() ?? new float[table.Size];
            table.SparseGrad?.AddToDense(g);
            table.Grad = null; table.SparseGrad?.Clear();
            return g;
        }
        var w = GradCheck.Rand(_rng, new Shape(4, 3));
        table.Grad = null; table.SparseGrad?.Clear();
        var fused = F.EmbeddingBag(table, ids, M4, kind);
        F.Sum(F.Mul(fused, w)).Backward();
        var fusedGrad = Grad();
        var twoStep = F.MaskedPool(F.Embedding(table, ids), M4, kind);
        F.Sum(F.Mul(twoStep, w)).Backward();
        Assert.Equal(twoStep.ToArray(), fused.ToArray());
        Assert.Equal(Grad(), fusedGrad);
        Assert.Equal([0f, 0f, 0f], fused.ToArray()[6..9]);
        Assert.Throws<ArgumentException>(() => F.EmbeddingBag(table, ids, M4, F.Pooling.Max));
    }

    [Fact]
    public void KeyFeaturesAndRowBroadcastGradients()
    {
        // Rows of lengths 3, 1, 0, 4 (M4) over T = 4: behaviours at flat positions of the mask.
        int[] keyRows = [0, 1, 2, 4, 12, 13, 14, 15], starts = [0, 3, 4, 4, 8];
        var q = GradCheck.Rand(_rng, new Shape(4, 3));
        var k = GradCheck.Rand(_rng, new Shape(4, 4, 3));
        var y = F.KeyFeatures(q, k, keyRows, starts);
        Assert.Equal(new Shape(8, 6), y.Shape);
        for (int i = 0; i < 8; i++)
        {
            int row = i < 3 ? 0 : i < 4 ? 1 : 3;
            for (int j = 0; j < 3; j++)
            {
                Assert.Equal(k.Span[keyRows[i] * 3 + j], y.Span[i * 6 + j]);
                Assert.Equal(q.Span[row * 3 + j] * k.Span[keyRows[i] * 3 + j], y.Span[i * 6 + 3 + j], 6);
            }
        }
        GradCheck.Check(t => F.KeyFeatures(t[0], t[1], keyRows, starts), [q, k], what: "key features");
        var x = GradCheck.Rand(_rng, new Shape(8, 5));
        var p = GradCheck.Rand(_rng, new Shape(4, 5));
        GradCheck.Check(t => F.AddRowBroadcast(t[0], t[1], starts), [x, p], what: "row broadcast");
    }

    [Fact]
    public void KeyFeaturesDoNotDependOnTheThreadCount()
    {
        int b = 300, t = 20, e = 18;
        var r = new Rng(3);
        var lengths = Enumerable.Range(0, b).Select(i => 1 + (i * 7) % t).ToArray();
        var keyRows = new List<int>(); var starts = new int[b + 1];
        for (int i = 0; i < b; i++) { starts[i] = keyRows.Count; for (int s = 0; s < lengths[i]; s++) keyRows.Add(i * t + s); }
        starts[b] = keyRows.Count;
        var kr = keyRows.ToArray();
        float[] q0 = GradCheck.Rand(r, new Shape(b, e)).ToArray(), k0 = GradCheck.Rand(r, new Shape(b, t, e)).ToArray();
        float[] p0 = GradCheck.Rand(r, new Shape(b, 2 * e)).ToArray(), g0 = GradCheck.Rand(r, new Shape(kr.Length, 2 * e)).ToArray();
        float[][] Run(int threads) => WithThreads.Run<float[][]>(threads, () =>
        {
            var q = Tensor.FromArray(q0, new Shape(b, e), requiresGrad: true);
            var k = Tensor.FromArray(k0, new Shape(b, t, e), requiresGrad: true);
            var p = Tensor.FromArray(p0, new Shape(b, 2 * e), requiresGrad: true);
            var z = F.AddRowBroadcast(F.KeyFeatures(q, k, kr, starts), p, starts);
            F.Sum(F.Mul(z, Tensor.FromArray(g0, new Shape(kr.Length, 2 * e)))).Backward();
            return [z.ToArray(), q.Grad!.ToArray(), k.Grad!.ToArray(), p.Grad!.ToArray()];
        });
        WithThreads.AssertSameForOneAndTwo(Run);
    }

    [Fact]
    public void EmbeddingRejectsOutOfRangeIds()
    {
        var e = Assert.Throws<ArgumentException>(() => F.Embedding(new Tensor(new Shape(4, 2)), new IntTensor([1, 4])));
        Assert.Contains("id 4", e.Message);
    }

    [Fact]
    public void ConcatRepeatGradients()
    {
        var a = GradCheck.Rand(_rng, new Shape(2, 3, 2));
        var b = GradCheck.Rand(_rng, new Shape(2, 3, 4));
        var c = GradCheck.Rand(_rng, new Shape(2, 3, 1));
        GradCheck.Check(x => F.ConcatLast(x[0], x[1], x[2]), [a, b, c], what: "concat");
        GradCheck.Check(x => F.RepeatSteps(x[0], 5), [GradCheck.Rand(_rng, new Shape(3, 4))], what: "repeat");
        Assert.Equal([1, 2, 9, 3, 4, 8], F.ConcatLast(Tensor.FromArray([1, 2, 3, 4], 2, 2), Tensor.FromArray([9, 8], 2, 1)).ToArray());
    }

    [Fact]
    public void GatherScatterRowsGradients()
    {
        var x = GradCheck.Rand(_rng, new Shape(2, 3, 4));
        int[] rows = [5, 0, 5, 2];
        GradCheck.Check(t => F.GatherRows(t[0], rows, 4), [x], what: "gather rows");
        Assert.Equal(x.ToArray()[20..24], F.GatherRows(x, rows, 4).ToArray()[0..4]);
        var y = GradCheck.Rand(_rng, new Shape(3, 1));
        int[] dst = [4, 1, 2];
        GradCheck.Check(t => F.ScatterRows(t[0], dst, new Shape(2, 3)), [y], what: "scatter rows");
        var s = F.ScatterRows(y, dst, new Shape(2, 3)).ToArray();
        Assert.Equal([0f, y.Span[1], y.Span[2], 0f, y.Span[0], 0f], s);
    }

    [Fact]
    public void BceMatchesDefinitionAndIsStable()
    {
        var logits = Tensor.FromArray([0f, 2f, -3f, 50f, -50f], 5);
        var targets = Tensor.FromArray([1f, 0f, 1f, 0f, 1f], 5);
        double expected = 0;
        foreach (var (x, y) in logits.ToArray().Zip(targets.ToArray()))
            expected += Math.Max(x, 0) - x * y + Math.Log(1 + Math.Exp(-Math.Abs(x)));
        Assert.Equal(expected / 5, F.BinaryCrossEntropyWithLogits(logits, targets).Item(), 5);
        GradCheck.Check(x => F.BinaryCrossEntropyWithLogits(x[0], targets), [GradCheck.Rand(_rng, new Shape(5), -3, 3)], what: "bce logits");
        var probs = Tensor.FromArray([0f, 1f, 0.5f], 3);
        Assert.Equal((100 + 100 + Math.Log(2)) / 3, F.BinaryCrossEntropy(probs, Tensor.FromArray([1f, 0f, 1f], 3)).Item(), 4);
        GradCheck.Check(x => F.BinaryCrossEntropy(x[0], targets), [GradCheck.Rand(_rng, new Shape(5), 0.1f, 0.9f)], what: "bce probs");
    }

    [Fact]
    public void MaskedSoftmaxZeroesMaskedAndEmptyRows()
    {
        var x = GradCheck.Rand(_rng, new Shape(4, 4));
        var y = F.MaskedSoftmax(x, M4).ToArray();
        Assert.Equal(1.0, y[0] + y[1] + y[2], 5);
        Assert.Equal(0f, y[3]);
        Assert.Equal([1f, 0f, 0f, 0f], y[4..8]);
        Assert.Equal([0f, 0f, 0f, 0f], y[8..12]);                 // all masked: zeros, not NaN
        GradCheck.Check(t => F.MaskedSoftmax(t[0], M4), [x], what: "masked softmax");
        var x3 = GradCheck.Rand(_rng, new Shape(4, 2, 4));          // [B, H, T], mask broadcast over H
        GradCheck.Check(t => F.MaskedSoftmax(t[0], M4), [x3], what: "masked softmax 3d");
        GradCheck.Check(t => F.MaskedSoftmax(t[0], null), [x], what: "softmax");
        GradCheck.Check(t => F.MaskedSigmoid(t[0], M4), [x], what: "masked sigmoid");
    }

    [Fact]
    public void WeightedSumAndPoolingGradients()
    {
        var w = GradCheck.Rand(_rng, new Shape(4, 4));
        var v = GradCheck.Rand(_rng, new Shape(4, 4, 3));
        GradCheck.Check(t => F.WeightedSum(t[0], t[1], M4), [w, v], what: "weighted sum");
        GradCheck.Check(t => F.MaskedPool(t[0], M4, F.Pooling.Sum), [v], what: "sum pool");
        GradCheck.Check(t => F.MaskedPool(t[0], M4, F.Pooling.Mean), [v], what: "mean pool");
        GradCheck.Check(t => F.MaskedPool(t[0], M4, F.Pooling.Max), [v], what: "max pool");
    }

    [Fact]
    public void PaddedValuesDoNotChangePooledOutputs()
    {
        var v = GradCheck.Rand(_rng, new Shape(4, 4, 3));
        var w = GradCheck.Rand(_rng, new Shape(4, 4));
        var before = new[] { F.WeightedSum(w, v, M4), F.MaskedPool(v, M4, F.Pooling.Max), F.MaskedPool(v, M4, F.Pooling.Mean) }.Select(t => t.ToArray()).ToArray();
        var m = M4;
        for (int b = 0; b < 4; b++)
            for (int t = 0; t < 4; t++)
                if (!m[b, t]) { w.Span[b * 4 + t] = 1e6f; for (int e = 0; e < 3; e++) v.Span[(b * 4 + t) * 3 + e] = -7e5f; }
        var after = new[] { F.WeightedSum(w, v, M4), F.MaskedPool(v, M4, F.Pooling.Max), F.MaskedPool(v, M4, F.Pooling.Mean) }.Select(t => t.ToArray()).ToArray();
        for (int i = 0; i < 3; i++) Assert.Equal(before[i], after[i]);
        Assert.Equal([0f, 0f, 0f], after[1][6..9]);   // row with no real position
    }

    [Fact]
    public void BatchNormTrainingEvalAndMaskedGradients()
    {
        var x = GradCheck.Rand(_rng, new Shape(6, 3), -2, 2);
        var gamma = GradCheck.Rand(_rng, new Shape(3), 0.5f, 1.5f);
        var beta = GradCheck.Rand(_rng, new Shape(3));
        Tensor Bn(Tensor[] t, bool train, Mask? mask = null) =>
            F.BatchNorm(t[0], new Tensor(new Shape(3)), Tensor.Full(new Shape(3), 1f), t[1], t[2], train, 0.1f, 1e-5f, mask);
        GradCheck.Check(t => Bn(t, true), [x, gamma, beta], what: "bn train");
        GradCheck.Check(t => Bn(t, false), [x, gamma, beta], what: "bn eval");
        var x3 = GradCheck.Rand(_rng, new Shape(4, 4, 3), -2, 2);
        GradCheck.Check(t => F.BatchNorm(t[0], new Tensor(new Shape(3)), Tensor.Full(new Shape(3), 1f), t[1], t[2], true, 0.1f, 1e-5f, M4),
            [x3, gamma, beta], what: "bn masked");

        // Running statistics: momentum 0.1 toward the batch mean and the unbiased variance.
        var bn = new BatchNorm1d(1);
        bn.Forward(Tensor.FromArray([1f, 2f, 3f, 6f], 4, 1));
        Assert.Equal(0.3f, bn.RunningMean.Span[0], 6);
        Assert.Equal(0.9f + 0.1f * (14f / 3f), bn.RunningVar.Span[0], 5);
        var y = bn.Forward(Tensor.FromArray([1f, 2f, 3f, 6f], 4, 1)).ToArray();
        Assert.Equal(0.0, y.Average(), 5);
    }

    [Fact]
    public void MaskedBatchNormIgnoresPaddedValues()
    {
        var x = GradCheck.Rand(_rng, new Shape(4, 4, 3));
        var y1 = F.BatchNorm(x, new Tensor(new Shape(3)), new Tensor(new Shape(3)), null, null, true, 0.1f, 1e-5f, M4).ToArray();
        var m = M4;
        for (int b = 0; b < 4; b++) for (int t = 0; t < 4; t++) if (!m[b, t]) x.Span.Slice((b * 4 + t) * 3, 3).Fill(123f);
        var y2 = F.BatchNorm(x, new Tensor(new Shape(3)), new Tensor(new Shape(3)), null, null, true, 0.1f, 1e-5f, M4).ToArray();
        for (int b = 0; b < 4; b++) for (int t = 0; t < 4; t++) if (m[b, t])
            Assert.Equal(y1.AsSpan((b * 4 + t) * 3, 3).ToArray(), y2.AsSpan((b * 4 + t) * 3, 3).ToArray());
    }

    [Fact]
    public void DicePReluDropoutGradients()
    {
        var x = GradCheck.Rand(_rng, new Shape(5, 3), -2, 2);
        var z = GradCheck.Rand(_rng, new Shape(5, 3), -2, 2);
        var a = GradCheck.Rand(_rng, new Shape(3));
        GradCheck.Check(t => F.DiceGate(t[0], t[1], t[2]), [x, z, a], what: "dice gate");
        var dice = new Dice(3);
        dice.Alpha.CopyFrom([0.2f, -0.3f, 0.5f]);
        GradCheck.Check(t => dice.Forward(t[0]), [x], what: "dice");
        GradCheck.Check(t => F.PRelu(t[0], t[1]), [x, a], skip: (k, i) => k == 0 && Math.Abs(x.Span[i]) < 1e-2, what: "prelu");
        GradCheck.Check(t => F.PRelu(t[0], t[1]), [x, Tensor.FromArray([0.25f], 1)], skip: (k, i) => k == 0 && Math.Abs(x.Span[i]) < 1e-2, what: "prelu shared");
        var rng = new Rng(3);
        var big = Tensor.Full(new Shape(10000), 1f);
        var d = F.Dropout(big, 0.25f, true, rng).ToArray();
        Assert.InRange(d.Count(v => v == 0f) / 10000.0, 0.23, 0.27);
        Assert.All(d, v => Assert.True(v == 0f || Math.Abs(v - 1f / 0.75f) < 1e-6));
        Assert.Same(big, F.Dropout(big, 0.25f, false, rng));
    }

    [Theory]
    [InlineData(true, false, false)]
    [InlineData(true, true, true)]
    [InlineData(false, true, false)]
    [InlineData(false, false, true)]
    public void FusedDiceEqualsTheGateOverBatchNorm(bool training, bool masked, bool affine)
    {
        // F.Dice is DiceGate(x, BatchNorm(x), α) in fewer passes: same outputs, running statistics and
        // gradients (x, γ, β, α), with padded rows (p = ½, no normalization gradient) and in evaluation.
        var r = new Rng(masked ? 11u : 12u);
        var mask = masked ? M4 : null;
        var x = GradCheck.Rand(r, new Shape(4, 4, 3), -2, 2);
        var a = Tensor.FromArray([0.2f, -0.3f, 0.5f], 3); a.RequiresGrad = true;
        var w = affine ? GradCheck.Rand(r, new Shape(3), 0.5f, 1.5f) : null;
        var bias = affine ? GradCheck.Rand(r, new Shape(3)) : null;
        var upstream = GradCheck.Rand(r, new Shape(4, 4, 3));
        foreach (var t in new[] { x, w, bias }) if (t is not null) t.RequiresGrad = true;
        (float[] Y, float[] Mean, float[] Var, float[][] Grads) Run(bool fused)
        {
            var rm = Tensor.FromArray([0.1f, -0.2f, 0.3f], 3); var rv = Tensor.FromArray([0.5f, 1.5f, 2f], 3);
            Tensor?[] ps = [x, a, w, bias];
            foreach (var t in ps) if (t is not null) t.Grad = null;
            var y = fused ? F.Dice(x, rm, rv, w, bias, a, training, 0.1f, 1e-5f, mask)
                          : F.DiceGate(x, F.BatchNorm(x, rm, rv, w, bias, training, 0.1f, 1e-5f, mask), a);
            F.Sum(F.Mul(y, upstream)).Backward();
            return (y.ToArray(), rm.ToArray(), rv.ToArray(), ps.Where(t => t is not null).Select(t => t!.Grad!.ToArray()).ToArray());
        }
        var (y1, m1, v1, g1) = Run(true);
        var (y2, m2, v2, g2) = Run(false);
        Assert.Equal(m2, m1);
        Assert.Equal(v2, v1);
        Assert.Equal(y2, y1);                               // the same float operations, in the same order
        for (int t = 0; t < g1.Length; t++)
            for (int i = 0; i < g1[t].Length; i++) Assert.True(Math.Abs(g1[t][i] - g2[t][i]) <= 1e-5 + 1e-5 * Math.Abs(g2[t][i]), $"input {t} [{i}]: {g1[t][i]} vs {g2[t][i]}");
        Tensor[] inputs = affine ? [x, a, w!, bias!] : [x, a];
        GradCheck.Check(t => F.Dice(t[0], Tensor.FromArray([0.1f, -0.2f, 0.3f], 3), Tensor.FromArray([0.5f, 1.5f, 2f], 3), affine ? t[2] : null, affine ? t[3] : null, t[1], training, 0.1f, 1e-5f, mask),
            inputs, what: $"dice training={training} masked={masked} affine={affine}");
    }

    [Fact]
    public void DiceMatchesPaperFormulaInTraining()
    {
        var dice = new Dice(1);
        dice.Alpha.CopyFrom([0.5f]);
        var xs = new[] { -1f, 0f, 1f, 4f };
        var y = dice.Forward(Tensor.FromArray(xs, 4, 1)).ToArray();
        double mean = xs.Average(), var = xs.Select(v => (v - mean) * (v - mean)).Average();
        for (int i = 0; i < 4; i++)
        {
            double p = 1 / (1 + Math.Exp(-(xs[i] - mean) / Math.Sqrt(var + 1e-8)));
            Assert.Equal(p * xs[i] + (1 - p) * 0.5 * xs[i], y[i], 5);
        }
    }

    [Theory]
    [InlineData(Activation.Dice, false, 16)]
    [InlineData(Activation.Dice, false, 36)]
    [InlineData(Activation.PRelu, true, 16)]
    [InlineData(Activation.Relu, true, 7)]
    public void ScoringPassMatchesTheLayeredEvaluationForwardBitForBit(Activation act, bool batchNorm, int e)
    {
        // Scoring (evaluation, no gradients) runs tiles through every layer; it must equal the layered
        // evaluation forward, with non-trivial running statistics, slopes and ragged, empty rows.
        int b = 57, t = 30;
        var r = new Rng(77);
        var unit = new ActivationUnit(e, new MlpOptions([16, 8], act, BatchNorm: batchNorm, DiceAffine: true), new Rng(6));
        foreach (var (name, tensor) in unit.StateDict())
        {
            var v = tensor.Span;
            for (int i = 0; i < v.Length; i++)
                v[i] = name.EndsWith("running_var") ? 0.5f + r.NextFloat() : name.EndsWith("weight") && v.Length > 1 && !name.Contains("linear") && !name.StartsWith("fc") ? 0.5f + r.NextFloat() : v[i] + 0.3f * (r.NextFloat() - 0.5f);
        }
        unit.Eval();
        var q = GradCheck.Rand(r, new Shape(b, e));
        var k = GradCheck.Rand(r, new Shape(b, t, e));
        var mask = Mask.FromLengths(Enumerable.Range(0, b).Select(i => i % 7 == 3 ? 0 : r.NextInt(t + 1)).ToArray(), t);
        var layered = unit.Forward(q, k, mask);
        Assert.True(layered.RequiresGrad);                                       // the parameters require grad: layered path
        float[] expected = layered.ToArray();
        DeepInterest.Engine.Autograd.Tape.Clear();
        using (DeepInterest.Engine.Autograd.Tape.NoGrad())
            Assert.Equal(expected, unit.Forward(q, k, mask).ToArray());
    }

    [Fact]
    public void ActivationUnitGradientsAndPaddingInvariance()
    {
        var unit = new ActivationUnit(3, new MlpOptions([5, 4], Activation.Dice, BatchNorm: false), new Rng(5));
        var q = GradCheck.Rand(_rng, new Shape(4, 3));
        var k = GradCheck.Rand(_rng, new Shape(4, 4, 3));
        var scores = unit.Forward(q, k, M4).ToArray();
        var m = M4;
        for (int b = 0; b < 4; b++) for (int t = 0; t < 4; t++) if (!m[b, t]) k.Span.Slice((b * 4 + t) * 3, 3).Fill(55f);
        var scores2 = unit.Forward(q, k, M4).ToArray();
        for (int i = 0; i < 16; i++) if (m.Values[i]) Assert.Equal(scores[i], scores2[i]);
        k = GradCheck.Rand(_rng, new Shape(4, 4, 3));
        GradCheck.Check(t => F.MaskedSigmoid(unit.Forward(t[0], t[1], M4), M4), [q, k], what: "activation unit");
        var keys = unit.StateDict().Select(kv => kv.Key).ToArray();
        Assert.Contains("mlp.layers.0.linear.weight", keys);
        Assert.Contains("mlp.layers.1.act.alpha", keys);
        Assert.Contains("mlp.layers.1.act.bn.running_var", keys);
        Assert.Contains("fc.bias", keys);
    }
}

public class ShapeOpsAndInitTests
{
    private readonly Rng _rng = new(41);

    [Fact]
    public void SliceSplitExpandGradients()
    {
        var x = GradCheck.Rand(_rng, new Shape(2, 3, 5));
        GradCheck.Check(t => F.SliceLast(t[0], 1, 3), [x], what: "slice last");
        GradCheck.Check(t => F.ConcatRows(t[0], t[1]), [GradCheck.Rand(_rng, new Shape(3, 4)), GradCheck.Rand(_rng, new Shape(2, 4))], what: "concat rows");
        Assert.Throws<ArgumentException>(() => F.ConcatRows(Tensor.Zeros(new Shape(2, 3)), Tensor.Zeros(new Shape(2, 4))));
        GradCheck.Check(t => F.SliceSteps(t[0], 1, 2), [x], what: "slice steps");
        var parts = new[] { F.SliceLast(x, 0, 2), F.SliceLast(x, 2, 3) };                 // split = slices
        Assert.Equal(x.ToArray(), F.ConcatLast(parts[0], parts[1]).ToArray());
        GradCheck.Check(t => F.Expand(t[0], new Shape(2, 4, 3)), [GradCheck.Rand(_rng, new Shape(2, 1, 3))], what: "expand");
        Assert.Throws<ArgumentException>(() => F.Expand(Tensor.Zeros(new Shape(2, 3)), new Shape(2, 4)));
        Assert.Throws<ArgumentException>(() => F.SliceLast(x, 4, 2));
    }

    [Fact]
    public void DropoutAndMaskedBceGradients()
    {
        var x = GradCheck.Rand(_rng, new Shape(4, 6));
        // A fresh generator per call draws the same mask, so the function is deterministic.
        GradCheck.Check(t => F.Dropout(t[0], 0.3f, true, new Rng(9)), [x], what: "dropout");
        var mask = Mask.FromLengths([6, 2, 0, 3], 6);
        GradCheck.Check(t => F.MaskedBinaryCrossEntropyWithLogits(t[0], 1f, mask), [x], what: "masked bce 1");
        GradCheck.Check(t => F.MaskedBinaryCrossEntropyWithLogits(t[0], 0f, mask), [x], what: "masked bce 0");
        var before = F.MaskedBinaryCrossEntropyWithLogits(x, 1f, mask).Item();
        x.Span[2 * 6 + 1] = 1e4f;                                                           // a padded position
        Assert.Equal(before, F.MaskedBinaryCrossEntropyWithLogits(x, 1f, mask).Item());
    }

    [Fact]
    public void RowPenaltyValueAndGradient()
    {
        var table = GradCheck.Rand(_rng, new Shape(5, 3));
        int[] rows = [3, 0, 1];
        float[] scale = [1f, 0.5f, 1f, 0.25f, 1f];
        float expected = 0.5f * 0.2f * (0.5f * Sq(table, 1) + 0.25f * Sq(table, 3));
        Assert.Equal(expected, F.RowPenalty(table, rows, 3, scale, 0.2f).Item(), 5);
        GradCheck.Check(t => F.RowPenalty(t[0], rows, 3, scale, 0.2f), [table], what: "row penalty");
        table.Grad = null; table.HasSparseGrad = true;
        F.RowPenalty(table, rows, 3, scale, 0.2f).Backward();
        Assert.Equal(2, table.SparseGrad!.Count);                                            // rows 3 and 1; padding row 0 skipped
        Assert.Equal(0.2f * 0.25f * table.Span[9], table.SparseGrad.RowGrad(3)[0], 6);
    }

    private static float Sq(Tensor t, int row) { float s = 0; for (int k = 0; k < 3; k++) s += t.Span[row * 3 + k] * t.Span[row * 3 + k]; return s; }

    [Fact]
    public void InitializersFollowTorchFormulas()
    {
        var w = new Tensor(new Shape(200, 300));
        Init.XavierUniform(w, new Rng(1));
        float a = MathF.Sqrt(6f / 500f);
        Assert.All(w.ToArray(), v => Assert.InRange(v, -a, a));
        Assert.InRange(Std(w), a / MathF.Sqrt(3) * 0.97, a / MathF.Sqrt(3) * 1.03);
        Init.KaimingUniform(w, new Rng(2), MathF.Sqrt(5f));                                 // Linear default: U(±1/√fan_in)
        Assert.All(w.ToArray(), v => Assert.InRange(v, -1f / MathF.Sqrt(300), 1f / MathF.Sqrt(300)));
        Init.KaimingNormal(w, new Rng(3));
        Assert.InRange(Std(w), MathF.Sqrt(2f / 300) * 0.97, MathF.Sqrt(2f / 300) * 1.03);
        Init.XavierNormal(w, new Rng(4));
        Assert.InRange(Std(w), MathF.Sqrt(2f / 500) * 0.97, MathF.Sqrt(2f / 500) * 1.03);
        Init.Normal(w, 0f, 0.3f, new Rng(5));
        Assert.InRange(Std(w), 0.29, 0.31);
        var w2 = new Tensor(new Shape(200, 300));
        Init.Normal(w2, 0f, 0.3f, new Rng(5));
        Assert.Equal(w.ToArray(), w2.ToArray());                                             // seeded: identical
        Assert.Equal((300, 200), Init.Fans(w.Shape));
    }

    private static double Std(Tensor t)
    {
        var v = t.ToArray();
        double m = v.Average();
        return Math.Sqrt(v.Select(x => (x - m) * (x - m)).Average());
    }
}
