using System.ComponentModel;
using System.Text.Json.Serialization;
using DeepInterest.Engine;
using DeepInterest.Engine.Modules;

namespace DeepInterest.Models.Networks;

/// <summary>Penalty on the embedding rows of each mini-batch (DIN paper §4.2).</summary>
public enum Regularization
{
    /// <summary>No penalty (Adam's weight_decay may still apply L2 to everything).</summary>
    None,
    /// <summary>(λ/2)·Σ_{rows j in the batch} ‖w_j‖².</summary>
    L2,
    /// <summary>Mini-batch aware: (λ/2)·Σ_{rows j in the batch} ‖w_j‖²/n_j, n_j = the row's frequency in training.</summary>
    Mba,
}

/// <summary>How DIN (and DIEN's attention) turns attention scores into pooling weights.</summary>
public enum AttentionNormalization
{
    /// <summary>w = σ(score) at real positions: the PyTorch tutorials' DIN ("weight normalization off" with a sigmoid).</summary>
    Sigmoid,
    /// <summary>w = softmax over real positions ("weight normalization on").</summary>
    Softmax,
    /// <summary>w = the raw score: no normalization (DIN paper Eq. 3).</summary>
    None,
}

/// <summary>
/// Hyperparameters every model kind has: the embedding tables' initialization and penalty, the
/// pooling of sequences that enter the MLP, and the MLP head that maps the features to one logit.
/// Each model kind derives one sealed record (in the model's own file) with its own options; the
/// records are immutable, <see cref="Validate"/> names the bad field, and the config binder and the
/// model manifest read the same properties (snake_case names, <see cref="DescriptionAttribute"/> as
/// the reference text). A property without a description (<see cref="Seed"/>) is not a config key.
/// </summary>
public abstract record ModelOptions
{
    /// <summary>The registered kind name of these options (<see cref="ModelRegistry"/>).</summary>
    [JsonIgnore] public string Kind => ModelRegistry.For(this).Name;

    [Description("hidden sizes of the MLP over the concatenated features")]
    public int[] MlpHidden { get; init; } = [200, 80];
    [Description("activation of the MLP: relu, prelu, dice, sigmoid, tanh or none")]
    public Activation MlpActivation { get; init; } = Activation.PRelu;
    [Description("BatchNorm after each linear layer of the MLP")]
    public bool MlpBatchNorm { get; init; }
    [Description("dropout after each MLP layer, in [0, 1)")]
    public float MlpDropout { get; init; }
    [Description("standard deviation of the normal initialization of embedding rows")]
    public float EmbeddingInitStd { get; init; } = 1e-2f;
    /// <summary>Initialization seed (the trainer's seed in the CLI).</summary>
    public ulong Seed { get; init; } = 1024;
    [Description("penalty on each batch's embedding rows: none, l2 or mba (the DIN paper's mini-batch aware L2)")]
    public Regularization Regularization { get; init; }
    [Description("λ of the embedding regularization")]
    public float RegularizationWeight { get; init; } = 0.01f;
    [Description("pooling of the sequences that enter the MLP directly: sum (the DIN paper), mean or max")]
    public F.Pooling SequencePooling { get; init; } = F.Pooling.Sum;

    /// <summary>The head MLP's layer options.</summary>
    [JsonIgnore] public MlpOptions Mlp => new(MlpHidden, MlpActivation, MlpDropout, MlpBatchNorm);

    /// <summary>Checks every field; returns this record, or throws naming the config key.</summary>
    public virtual ModelOptions Validate()
    {
        Mlp.Validate("model.mlp_hidden");
        if (!(RegularizationWeight >= 0)) throw new ArgumentException($"model.regularization_weight must be ≥ 0, got {RegularizationWeight}.");
        if (!(EmbeddingInitStd > 0)) throw new ArgumentException($"model.embedding_init_std must be positive, got {EmbeddingInitStd}.");
        return this;
    }
}

/// <summary>Options of the models that score behaviours with DIN's local activation unit (DIN, DIEN, DSIN's activation-unit form).</summary>
public abstract record AttentionModelOptions : ModelOptions
{
    [Description("hidden sizes of the attention unit's MLP")]
    public int[] AttentionHidden { get; init; } = [80, 40];
    [Description("activation of the attention unit's MLP: dice (the DIN paper), prelu, relu, sigmoid, tanh or none")]
    public Activation AttentionActivation { get; init; } = Activation.Dice;
    [Description("dropout inside the attention unit's MLP, in [0, 1)")]
    public float AttentionDropout { get; init; }
    [Description("BatchNorm after each linear layer of the attention MLP (the PyTorch tutorials' attention has it)")]
    public bool AttentionBatchNorm { get; init; }

    /// <summary>The attention unit's MLP layer options.</summary>
    [JsonIgnore] public MlpOptions AttentionMlp => new(AttentionHidden, AttentionActivation, AttentionDropout, AttentionBatchNorm);

    public override ModelOptions Validate()
    {
        base.Validate();
        AttentionMlp.Validate("model.attention_hidden");
        return this;
    }
}
