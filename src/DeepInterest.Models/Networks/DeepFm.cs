using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Models.Layers;

namespace DeepInterest.Models.Networks;

/// <summary>DeepFM's options: the common ones (embeddings, pooling, MLP head).</summary>
public sealed record DeepFmOptions : ModelOptions;

/// <summary>
/// DeepFM (Guo et al., IJCAI 2017, Fig. 1), one of the DIN paper's baselines: a factorization machine
/// and an MLP that share the field embeddings. ŷ = σ(y_FM + y_DNN) with
/// y_FM = Σ w·x (<see cref="FirstOrder"/>, keys <c>linear.*</c>) + Σ_{i&lt;j} ⟨f_i, f_j⟩ and
/// y_DNN = the MLP over [f_1 … f_N, dense]. Fields are the sparse features' embeddings and the
/// behaviour sequences pooled over their real positions (negative histories are not fields); dense
/// features enter the MLP only.
/// </summary>
public sealed class DeepFm : CtrModel<DeepFmOptions>
{
    private readonly FeatureEmbeddings _emb;
    private readonly FirstOrder _linear;

    public DeepFm(FeatureSchema schema, DeepFmOptions options) : base(schema, options)
    {
        FieldInteractions.CommonWidth(schema, IsPooled, "DeepFM");
        var rng = new Rng(options.Seed);
        _emb = RegisterModule("embeddings", new FeatureEmbeddings(schema, rng, options.EmbeddingInitStd));
        _linear = RegisterModule("linear", new FirstOrder(schema, rng, options.EmbeddingInitStd));
        RegisterHead(BaseInputWidth(), rng);
    }

    public override FeatureEmbeddings Embeddings => _emb;

    /// <summary>Every behaviour sequence is a field; negative histories (DIEN's sampled items) are not.</summary>
    protected override bool IsPooled(string sequence) => !IsNegativeHistory(sequence);

    public override ForwardResult Forward(ModelInput x, ForwardOutputs outputs = ForwardOutputs.Logits)
    {
        var fields = new List<Tensor>();
        AddProfile(fields, x);                                                                             // N × [B, E]
        var fm = F.Add(_linear.Forward(x, IsPooled), FieldInteractions.FactorizationMachine(fields));       // [B]
        return new ForwardResult(F.Add(Head(fields, x), fm));                                              // [B]
    }
}
