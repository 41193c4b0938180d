using DeepInterest.Engine;
using DeepInterest.Engine.Modules;
using DeepInterest.Engine.Optim;

namespace DeepInterest.Engine.Tests;

/// <summary>
/// Matches PyTorch 1.13 on fixtures written by tools/golden/din.py (inputs, weights, outputs and
/// gradients); tolerance 1e-5 relative with 1e-6 absolute for values that are zero up to rounding.
/// </summary>
public class ParityTests
{
    private static void SetWeights(Module m, Fixture f, string prefix = "")
    {
        foreach (var (name, t) in m.NamedParameters())
            if (f.Has(prefix + name)) t.CopyFrom(f[prefix + name].Span);
    }

    private static Tensor Grad(Module m, string name) => m.NamedParameters().First(p => p.Name == name).Parameter.Grad!;

    [Fact]
    public void MlpWithDiceMatchesPyTorchInTrainingAndEval()
    {
        var f = new Fixture("din_mlp_dice.safetensors");
        var mlp = new Mlp(5, new MlpOptions([4, 3], Activation.Dice), new Rng(1));
        SetWeights(mlp, f);
        var x = f.Param("x");
        var y = mlp.Forward(x);
        Close.Equal(f["y"], y, what: "y");
        F.Sum(F.Mul(y, f["w_out"])).Backward();
        Close.Equal(f["x.grad"], x.Grad!, what: "x.grad");
        foreach (var key in new[] { "layers.0.linear.weight", "layers.0.linear.bias", "layers.0.act.alpha", "layers.1.linear.weight", "layers.1.act.alpha" })
            Close.Equal(f[key + ".grad"], Grad(mlp, key), what: key + ".grad");
        var state = mlp.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value);
        foreach (var key in new[] { "layers.0.act.bn.running_mean", "layers.0.act.bn.running_var", "layers.1.act.bn.running_var" })
            Close.Equal(f[key], state[key], what: key);
        mlp.Eval();
        Close.Equal(f["y_eval"], mlp.Forward(f["x"]), what: "y_eval");
    }

    [Fact]
    public void DinAttentionUnitMatchesPyTorch()
    {
        var f = new Fixture("din_attention_unit.safetensors");
        var unit = new ActivationUnit(4, new MlpOptions([6, 3], Activation.Dice), new Rng(1));
        SetWeights(unit, f);
        var q = f.Param("q"); var k = f.Param("k");
        var mask = Mask.FromLengths(f.Ints("lengths"), 5);
        var scores = unit.Forward(q, k, mask);
        var s = scores.ToArray(); var es = f["scores"].ToArray();
        for (int i = 0; i < s.Length; i++) if (mask.Values[i]) Close.Equal(es.AsSpan(i, 1), s.AsSpan(i, 1), what: $"scores[{i}]");
        var weights = F.MaskedSigmoid(scores, mask);
        Close.Equal(f["weights"], weights, what: "sigmoid weights");
        var soft = F.MaskedSoftmax(scores, mask);
        Close.Equal(f["softmax_weights"], soft, what: "softmax weights");
        var pooled = F.WeightedSum(weights, k, mask);
        var pooledSoft = F.WeightedSum(soft, k, mask);
        Close.Equal(f["pooled"], pooled, what: "pooled");
        Close.Equal(f["pooled_softmax"], pooledSoft, what: "pooled softmax");
        F.Add(F.Sum(F.Mul(pooled, f["w_pooled"])), F.Sum(F.Mul(pooledSoft, f["w_pooled_softmax"]))).Backward();
        Close.Equal(f["q.grad"], q.Grad!, what: "q.grad");
        Close.Equal(f["k.grad"], k.Grad!, what: "k.grad");
        foreach (var key in new[] { "mlp.layers.0.linear.weight", "mlp.layers.0.act.alpha", "mlp.layers.1.linear.weight", "mlp.layers.1.act.alpha", "fc.weight" })
            Close.Equal(f[key + ".grad"], Grad(unit, key), rtol: 2e-5, what: key + ".grad");
    }

    [Fact]
    public void MaskedSoftmaxBceAndEmbeddingMatchPyTorch()
    {
        var f = new Fixture("din_basic_ops.safetensors");
        var x = f.Param("softmax.x");
        var y = F.MaskedSoftmax(x, Mask.FromLengths(f.Ints("softmax.lengths"), 5));
        Close.Equal(f["softmax.y"], y, what: "softmax");
        F.Sum(F.Mul(y, f["softmax.w_out"])).Backward();
        Close.Equal(f["softmax.x.grad"], x.Grad!, what: "softmax grad");

        var logits = f.Param("bce.logits");
        var loss = F.BinaryCrossEntropyWithLogits(logits, f["bce.targets"]);
        Close.Equal(f["bce.loss"].Span, [loss.Item()], what: "bce");
        loss.Backward();
        Close.Equal(f["bce.logits.grad"], logits.Grad!, what: "bce grad");

        var probs = f.Param("bcep.probs");
        var lossP = F.BinaryCrossEntropy(probs, f["bce.targets"]);
        Close.Equal(f["bcep.loss"].Span, [lossP.Item()], what: "bce probs");
        lossP.Backward();
        Close.Equal(f["bcep.probs.grad"], probs.Grad!, what: "bce probs grad");

        var table = f.Param("emb.weight");
        table.HasSparseGrad = true;
        var ids = new IntTensor(f.Ints("emb.ids"), new Shape(2, 4));
        var out_ = F.Embedding(table, ids);
        Close.Equal(f["emb.out"], out_, what: "embedding");
        F.Sum(F.Mul(out_, f["emb.w_out"])).Backward();
        var g = new float[table.Size];
        table.SparseGrad!.AddToDense(g);
        Close.Equal(f["emb.weight.grad"].Span, g, what: "embedding grad");
    }

    [Theory]
    [InlineData("adam")]
    [InlineData("adamw")]
    [InlineData("sgd")]
    [InlineData("nesterov")]
    public void OptimizersMatchPyTorchStepByStep(string name)
    {
        var f = new Fixture("din_optimizers.safetensors");
        var p = f.Param("p0");
        var ps = new[] { ("p", p) };
        Optimizer opt = name switch
        {
            "adam" => new Adam(ps, new AdamOptions(Lr: 0.01f, WeightDecay: 0.1f)),
            "adamw" => new Adam(ps, new AdamOptions(Lr: 0.01f, WeightDecay: 0.1f, Decoupled: true)),
            "sgd" => new Sgd(ps, new SgdOptions(0.1f, Momentum: 0.9f, WeightDecay: 0.01f)),
            _ => new Sgd(ps, new SgdOptions(0.1f, Momentum: 0.9f, Nesterov: true)),
        };
        for (int i = 0; i < 3; i++)
        {
            p.Grad = Tensor.FromArray(f[$"grad{i}"].ToArray(), p.Shape);
            opt.Step();
            Close.Equal(f[$"{name}.step{i}"], p, what: $"{name} step {i}");
        }
    }

    [Fact]
    public void AdamDenseModeOnSparseGradEqualsDenseGrad()
    {
        var rng = new Rng(9);
        var a = GradCheck.Rand(rng, new Shape(5, 3)); var b = Tensor.FromArray(a.ToArray(), a.Shape);
        a.HasSparseGrad = true; a.RequiresGrad = true; b.RequiresGrad = true;
        var oa = new Adam([("t", a)], new AdamOptions(Lr: 0.05f, WeightDecay: 0.01f));
        var ob = new Adam([("t", b)], new AdamOptions(Lr: 0.05f, WeightDecay: 0.01f));
        var ids = new IntTensor([1, 3, 3]);
        for (int step = 0; step < 3; step++)
        {
            oa.ZeroGrad(); ob.ZeroGrad();
            F.Sum(F.Embedding(a, ids)).Backward();
            F.Sum(F.Embedding(b, ids)).Backward();
            oa.Step(); ob.Step();
            Assert.Equal(b.ToArray(), a.ToArray());
        }
        // Lazy mode leaves untouched rows (2, 4) exactly as they were.
        var c = GradCheck.Rand(rng, new Shape(5, 3)); c.HasSparseGrad = true; c.RequiresGrad = true;
        var before = c.ToArray();
        var oc = new Adam([("t", c)], new AdamOptions(Lr: 0.05f, WeightDecay: 0.01f, Sparse: SparseMode.Lazy));
        F.Sum(F.Embedding(c, ids)).Backward();
        oc.Step();
        Assert.Equal(before[6..9], c.ToArray()[6..9]);
        Assert.NotEqual(before[3..6], c.ToArray()[3..6]);
    }
}
