using DeepInterest.Engine;
using DeepInterest.Engine.Modules;
using DeepInterest.Engine.Optim;

namespace DeepInterest.Engine.Tests;

public class AttentionAndLstmTests
{
    private readonly Rng _rng = new(31);
    private static readonly IntTensor Lengths = new([3, 1, 0, 4]);

    private static Tensor Both(RnnResult r) =>
        F.ConcatLast(F.Reshape(r.Outputs, new Shape(r.Outputs.Shape[0], r.Outputs.Shape[1] * r.Outputs.Shape[2])), r.Last);

    [Fact]
    public void LstmGradientsWithRaggedLengths()
    {
        var x = GradCheck.Rand(_rng, new Shape(4, 4, 3));
        var wih = GradCheck.Rand(_rng, new Shape(12, 3)); var whh = GradCheck.Rand(_rng, new Shape(12, 3));
        var bih = GradCheck.Rand(_rng, new Shape(12)); var bhh = GradCheck.Rand(_rng, new Shape(12));
        GradCheck.Check(p => Both(F.Lstm(p[0], Lengths, p[1], p[2], p[3], p[4])), [x, wih, whh, bih, bhh], what: "lstm");
        GradCheck.Check(p => F.ReverseSteps(p[0], Lengths), [x], what: "reverse");
        var bi = new Lstm(3, 2, new Rng(4), bidirectional: true);
        GradCheck.Check(p => Both(bi.Forward(p[0], Lengths)), [x], what: "bilstm");
    }

    [Theory]
    [InlineData("lstm")]
    [InlineData("bilstm")]
    public void LstmMatchesPyTorch(string name)
    {
        var f = new Fixture("attn_lstm.safetensors");
        var m = new Lstm(3, 4, new Rng(1), bidirectional: name == "bilstm");
        foreach (var (k, p) in m.NamedParameters()) p.CopyFrom(f[$"{name}.{k}"].Span);
        var x = f.Param(name + ".x");
        var r = m.Forward(x, new IntTensor(f.Ints("lengths")));
        Close.Equal(f[name + ".out"], r.Outputs, what: "out");
        Close.Equal(f[name + ".last"], r.Last, what: "last");
        F.Add(F.Sum(F.Mul(r.Outputs, f[name + ".w_out"])), F.Sum(F.Mul(r.Last, f[name + ".w_last"]))).Backward();
        Close.Equal(f[name + ".x.grad"], x.Grad!, rtol: 2e-5, atol: 2e-6, what: "x.grad");
        foreach (var (k, p) in m.NamedParameters()) Close.Equal(f[$"{name}.{k}.grad"], p.Grad!, rtol: 2e-5, atol: 2e-6, what: k + ".grad");
    }

    [Fact]
    public void MultiheadAttentionAndLayerNormGradients()
    {
        var mha = new MultiheadAttention(4, 2, new Rng(3));
        var mask = Mask.FromLengths([3, 1, 2], 3);
        var x = GradCheck.Rand(_rng, new Shape(3, 3, 4));
        GradCheck.Check(p => mha.Forward(p[0], mask), [x], what: "mha");
        GradCheck.Check(p => F.SplitHeads(p[0], 4, 2, 2), [GradCheck.Rand(_rng, new Shape(2, 3, 8))], what: "split heads");
        GradCheck.Check(p => F.MergeHeads(p[0], 2), [GradCheck.Rand(_rng, new Shape(4, 3, 2))], what: "merge heads");
        GradCheck.Check(p => F.LayerNorm(p[0], p[1], p[2]), [GradCheck.Rand(_rng, new Shape(5, 6)), GradCheck.Rand(_rng, new Shape(6)), GradCheck.Rand(_rng, new Shape(6))], what: "layernorm");
        // A padded key changes nothing.
        var y1 = mha.Forward(x, mask).ToArray();
        x.Span.Slice((1 * 3 + 2) * 4, 4).Fill(50f);
        var y2 = mha.Forward(x, mask).ToArray();
        Assert.Equal(y1[..12], y2[..12]);
        Assert.Equal(["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"], mha.StateDict().Select(kv => kv.Key));
    }

    [Fact]
    public void MultiheadAttentionLayerNormAndAdagradMatchPyTorch()
    {
        var f = new Fixture("attn_mha.safetensors");
        var mha = new MultiheadAttention(8, 2, new Rng(1));
        foreach (var (k, t) in mha.NamedParameters()) t.CopyFrom(f[k].Span);
        var ln = new LayerNorm(8);
        ln.Weight.CopyFrom(f["ln.weight"].Span); ln.Bias.CopyFrom(f["ln.bias"].Span);
        var x = f.Param("x");
        var y = mha.Forward(x, Mask.FromLengths(f.Ints("lengths"), 4));
        Close.Equal(f["y"], y, what: "mha");
        var z = ln.Forward(y);
        Close.Equal(f["z"], z, what: "layernorm");
        F.Add(F.Sum(F.Mul(y, f["w_y"])), F.Sum(F.Mul(z, f["w_z"]))).Backward();
        Close.Equal(f["x.grad"], x.Grad!, rtol: 2e-5, atol: 2e-6, what: "x.grad");
        Close.Equal(f["in_proj_weight.grad"], mha.InProjWeight.Grad!, rtol: 2e-5, atol: 2e-6, what: "in_proj_weight.grad");
        Close.Equal(f["out_proj.weight.grad"], mha.OutProj.Weight.Grad!, rtol: 2e-5, atol: 2e-6, what: "out_proj.weight.grad");
        Close.Equal(f["ln.weight.grad"], ln.Weight.Grad!, rtol: 2e-5, what: "ln.weight.grad");
        Close.Equal(f["ln.bias.grad"], ln.Bias.Grad!, rtol: 2e-5, what: "ln.bias.grad");

        var p = f.Param("adagrad.p0");
        var opt = new Adagrad([("p", p)], new AdagradOptions(0.1f, LrDecay: 0.01f, WeightDecay: 0.05f));
        for (int i = 0; i < 3; i++)
        {
            p.Grad = Tensor.FromArray(f[$"adagrad.grad{i}"].ToArray(), p.Shape);
            opt.Step();
            Close.Equal(f[$"adagrad.step{i}"], p, what: $"adagrad step {i}");
        }
    }

    [Fact]
    public void SchedulesClippingAndResumableOptimizerState()
    {
        var p = Tensor.FromArray([1f, 2f], 2); p.RequiresGrad = true;
        var adam = new Adam([("p", p)], new AdamOptions(0.1f));
        var step = LrSchedule.Step(adam, stepSize: 2, gamma: 0.5f);
        var lrs = new List<float>();
        for (int e = 0; e < 5; e++) { step.StepEpoch(); lrs.Add(adam.LearningRate); }
        Assert.Equal([0.1f, 0.05f, 0.05f, 0.025f, 0.025f], lrs);
        var exp = LrSchedule.Exponential(new Sgd([("q", Tensor.FromArray([0f], 1))], new SgdOptions(1f)), 0.5f);
        exp.StepEpoch(); exp.StepEpoch();

        p.Grad = Tensor.FromArray([3f, 4f], 2);
        Assert.Equal(5.0, GradClip.ClipGradNorm([p], 1.0), 6);
        Assert.Equal(0.6, p.Grad.Span[0], 4);

        // N steps, save, restore into fresh objects, M more steps ⇒ identical to N + M uninterrupted.
        float[] Run(int n, int m, bool resume)
        {
            var w = Tensor.FromArray([0.5f, -1f, 2f], 3); w.RequiresGrad = true;
            var o = new Adam([("w", w)], new AdamOptions(0.05f, WeightDecay: 0.01f));
            void Steps(Tensor t, Optimizer opt, int k, int start)
            {
                for (int i = 0; i < k; i++) { opt.ZeroGrad(); t.Grad = Tensor.FromArray([MathF.Sin(start + i), 1f, -0.5f], 3); opt.Step(); }
            }
            Steps(w, o, n, 0);
            if (!resume) { Steps(w, o, m, n); return w.ToArray(); }
            var dir = Path.Combine(Path.GetTempPath(), $"opt-{Guid.NewGuid():N}");
            try
            {
                DeepInterest.Engine.IO.SafeTensors.Save(Path.Combine(dir, "o.safetensors"), o.StateDict());
                var w2 = Tensor.FromArray(w.ToArray(), w.Shape); w2.RequiresGrad = true;
                var o2 = new Adam([("w", w2)], new AdamOptions(0.05f, WeightDecay: 0.01f));
                o2.LoadStateDict(DeepInterest.Engine.IO.SafeTensors.Load(Path.Combine(dir, "o.safetensors")));
                Steps(w2, o2, m, n);
                return w2.ToArray();
            }
            finally { Directory.Delete(dir, true); }
        }
        Assert.Equal(Run(3, 4, false), Run(3, 4, true));
    }
}
