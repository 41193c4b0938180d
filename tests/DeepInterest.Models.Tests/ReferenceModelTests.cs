using DeepInterest.Data.Batches;
using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Modules;
using DeepInterest.Engine.Optim;
using DeepInterest.Engine.Tests;
using DeepInterest.Models.Networks;

namespace DeepInterest.Models.Tests;

/// <summary>
/// Our DIN + Dice and DIEN against the PyTorch model that docs/results.md trains as the accuracy bar
/// (tools/reference/torch_ctr.py; fixtures by tools/golden/ctr_models.py): one training-mode step on a
/// ragged batch with the reference's weights must give its logits, loss (DIEN: BCE + α·L_aux), Dice
/// running statistics and every parameter's gradient.
/// </summary>
public class ReferenceModelTests
{
    private static readonly FeatureSchema Schema = new FeatureSchema
    {
        Tables = [new("user", 6, 4), new("item", 12, 4), new("cate", 5, 4)],
        Sparse = [new("user", "user"), new("item", "item"), new("cate", "cate")],
        Sequences = [new("hist_item", "item", 5), new("hist_cate", "cate", 5), new("neg_hist_item", "item", 5), new("neg_hist_cate", "cate", 5)],
        Groups = [new AttentionGroup("behaviour", [new AttentionPair("item", "hist_item", "neg_hist_item"), new AttentionPair("cate", "hist_cate", "neg_hist_cate")])],
    }.Validate();

    /// <summary>The small DIN/DIEN the fixtures were written for (tools/golden/ctr_models.py).</summary>
    private static CtrModel Create(string kind, Activation activation, EvolutionKind evolution) => CtrModel.Create(Schema, kind == "din"
        ? new DinOptions { MlpHidden = [8, 4], AttentionHidden = [6, 3], MlpActivation = activation, AttentionActivation = activation }
        : new DienOptions
        {
            MlpHidden = [8, 4], AttentionHidden = [6, 3], MlpActivation = activation, AttentionActivation = activation,
            Evolution = evolution, AuxHidden = [5, 3], AuxLossWeight = 1f,
        });

    /// <summary>The fixture's four rows (keys under <paramref name="prefix"/>) as one batch.</summary>
    private static Batch Rows(Fixture f, string prefix = "")
    {
        var batch = new Batch();
        batch.Fill(Data(f, prefix), [0, 1, 2, 3]);
        return batch;
    }

    private static CtrDataset Data(Fixture f, string prefix = "")
    {
        var d = new CtrDataset(Schema, 4);
        foreach (var s in Schema.Sparse) f.Ints(prefix + "sparse." + s.Name).CopyTo(d.Sparse[s.Name], 0);
        foreach (var q in Schema.Sequences)
        {
            f.Ints($"{prefix}seq.{q.Name}.ids").CopyTo(d.Sequences[q.Name].Ids, 0);
            f.Ints($"{prefix}len.{q.Name}").CopyTo(d.Sequences[q.Name].Lengths, 0);
        }
        f[prefix + "labels"].ToArray().CopyTo(d.Labels, 0);
        d.CheckIds();
        return d;
    }

    [Theory]
    [InlineData("ctr_din_dice.safetensors", "din", Activation.Dice, EvolutionKind.Augru)]
    [InlineData("ctr_dien_augru.safetensors", "dien", Activation.PRelu, EvolutionKind.Augru)]
    [InlineData("ctr_dien_agru.safetensors", "dien", Activation.PRelu, EvolutionKind.Agru)]
    [InlineData("ctr_dien_aigru.safetensors", "dien", Activation.PRelu, EvolutionKind.Aigru)]
    [InlineData("ctr_dien_gru_attention.safetensors", "dien", Activation.PRelu, EvolutionKind.GruAttention)]
    public void OneTrainingStepMatchesTheReferenceModel(string file, string kind, Activation activation, EvolutionKind evolution)
    {
        var f = new Fixture(file);
        var model = Create(kind, activation, evolution);
        var names = model.NamedParameters().Select(p => p.Name).ToList();
        // Same parameters on both sides: every one of ours is in the fixture, and the fixture has no other.
        Assert.All(names, n => Assert.True(f.Has(n), $"{file}: PyTorch has no '{n}'"));
        Assert.Equal(names.Count, f.Keys.Count(k => k.EndsWith(".grad")));
        foreach (var (name, p) in model.NamedParameters()) p.CopyFrom(f[name].Span);

        var batch = Rows(f);
        using var _ = Arena.Begin();
        var input = new ModelInput();
        input.Load(Schema, batch);
        var loss = model.Loss(input);
        Close.Equal(f["loss"].Span, loss.Span, what: "loss");
        loss.Backward();
        foreach (var (name, p) in model.NamedParameters()) Close.Grad(f[name + ".grad"], p, what: name + ".grad");
        int buffers = 0;
        foreach (var (name, b) in model.NamedBuffers()) { Close.Equal(f[name + ".after"], b, what: name); buffers++; }
        Assert.Equal(f.Keys.Count(k => k.EndsWith(".after")), buffers);
        using (Tape.NoGrad()) Close.Equal(f["logits"], model.Forward(input).Logits, what: "logits");   // training mode: batch statistics again
    }

    /// <summary>
    /// The DIN paper's baselines against the same reference (tools/reference/torch_ctr.py, kinds
    /// wide_deep, pnn, deepfm): one training-mode step on the ragged batch — logits, BCE loss and the
    /// gradient of every parameter (embedding, first-order and cross tables row by row).
    /// </summary>
    [Theory]
    [InlineData("ctr_wide_deep.safetensors", "wide_deep")]
    [InlineData("ctr_pnn.safetensors", "pnn")]
    [InlineData("ctr_deepfm.safetensors", "deepfm")]
    public void OneTrainingStepOfABaselineMatchesTheReferenceModel(string file, string kind)
    {
        var f = new Fixture(file);
        var options = ModelRegistry.Get(kind).DefaultOptions() with { MlpHidden = [8, 4], MlpActivation = Activation.PRelu };
        var model = CtrModel.Create(Schema, options);
        var names = model.NamedParameters().Select(p => p.Name).ToList();
        Assert.All(names, n => Assert.True(f.Has(n), $"{file}: PyTorch has no '{n}'"));
        Assert.Equal(names.Count, f.Keys.Count(k => k.EndsWith(".grad")));
        foreach (var (name, p) in model.NamedParameters()) p.CopyFrom(f[name].Span);

        using var _ = Arena.Begin();
        var input = new ModelInput();
        input.Load(Schema, Rows(f));
        var logits = model.Forward(input).Logits;
        Close.Equal(f["logits"], logits, what: "logits");
        var loss = model.Loss(input);
        Close.Equal(f["loss"].Span, loss.Span, what: "loss");
        loss.Backward();
        foreach (var (name, p) in model.NamedParameters()) Close.Grad(f[name + ".grad"], p, what: name + ".grad");
    }

    /// <summary>
    /// Several steps of the training path as the trainer runs it with dense embedding updates (the
    /// configuration of the PyTorch comparison): DIEN's loss, backward and Adam over batches b1, b2, b1,
    /// where b2's step leaves some embedding rows without a gradient (they still move on their momentum).
    /// </summary>
    [Fact]
    public void ThreeAdamStepsOfDienMatchTheReference()
    {
        var f = new Fixture("ctr_dien_adam_steps.safetensors");
        var model = Create("dien", Activation.PRelu, EvolutionKind.Augru);
        foreach (var (name, p) in model.NamedParameters()) p.CopyFrom(f[name].Span);
        var optimizer = new Adam(model.NamedParameters(), new AdamOptions(0.01f, Sparse: SparseMode.Dense));
        var batches = new[] { "b1.", "b2." }.ToDictionary(k => k, k => Rows(f, k));
        var losses = f["losses"].ToArray();
        for (int step = 0; step < 3; step++)
        {
            using var _ = Arena.Begin();
            var input = new ModelInput();
            input.Load(Schema, batches[step == 1 ? "b2." : "b1."]);
            optimizer.ZeroGrad();
            var loss = model.Loss(input);
            Close.Equal(losses.AsSpan(step, 1), loss.Span, rtol: 1e-5, atol: 1e-5, what: $"step {step}: loss");
            loss.Backward();
            optimizer.Step();
        }
        foreach (var (name, p) in model.NamedParameters())
            Close.Equal(f[name + ".after"], p, rtol: 1e-4, atol: 1e-5, what: name + " after three steps");
    }
}
