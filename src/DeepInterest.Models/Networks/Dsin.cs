using System.ComponentModel;
using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Models.Layers;

namespace DeepInterest.Models.Networks;

/// <summary>DSIN: what tells the session extractor where a behaviour sits (paper §4.2 and the §5.5 ablation).</summary>
public enum SessionEncoding
{
    /// <summary>BE(k, t, c) = w_k^K + w_t^T + w_c^C: learned session, position and unit biases (the paper's choice).</summary>
    Bias,
    /// <summary>The Transformer's fixed sinusoidal positional encoding over positions within a session (the ablation).</summary>
    Positional,
    /// <summary>Nothing added.</summary>
    None,
}

/// <summary>DSIN: how the target activates the session interests (§4.4).</summary>
public enum SessionActivation
{
    /// <summary>a_k = softmax_k(I_k·W·x): the paper's bilinear form (Eq. 9–10).</summary>
    Bilinear,
    /// <summary>DIN's local activation unit with softmax normalization (the authors' DeepCTR code).</summary>
    ActivationUnit,
}

/// <summary>DSIN's options: the session extractor, interacting and activating layers, and the common ones.</summary>
public sealed record DsinOptions : AttentionModelOptions
{
    [Description("self-attention heads of the session interest extractor (must divide the session embedding width)")]
    public int SessionHeads { get; init; } = 2;
    [Description("hidden width of the extractor's feed-forward network (0 = the embedding width, as in the authors' code)")]
    public int SessionFeedForward { get; init; }
    [Description("what marks a behaviour's place: bias (the paper's bias encoding), positional or none")]
    public SessionEncoding SessionEncoding { get; init; } = SessionEncoding.Bias;
    [Description("the Bi-LSTM session interest interacting layer (false = the paper's ablation without it)")]
    public bool SessionInteracting { get; init; } = true;
    [Description("how the target activates sessions: bilinear (the paper) or activation_unit (the authors' DeepCTR code)")]
    public SessionActivation SessionActivation { get; init; } = SessionActivation.Bilinear;

    public override ModelOptions Validate()
    {
        base.Validate();
        if (SessionHeads < 1) throw new ArgumentException($"model.session_heads must be ≥ 1, got {SessionHeads}.");
        if (SessionFeedForward < 0) throw new ArgumentException($"model.session_feed_forward must be ≥ 0, got {SessionFeedForward}.");
        return this;
    }
}

/// <summary>
/// Deep Session Interest Network (Feng et al., IJCAI 2019, Fig. 2). For each session group the
/// behaviours, already divided into sessions Q_1 … Q_K (oldest first, §4.1), become session
/// interests and are activated by the target:
/// <list type="number">
/// <item>Extractor (§4.2): Q + BE with BE(k, t, c) = w_k^K + w_t^T + w_c^C, then a Transformer encoder
/// layer per session (multi-head self-attention, feed-forward, residual + layer norm), then the
/// average over real positions: I_k [B, S, E].</item>
/// <item>Interacting (§4.3): a Bi-LSTM over I_1 … I_K with the two directions' states summed: H_k [B, S, E].</item>
/// <item>Activating (§4.4): U^I = Σ_k a_k^I·I_k with a_k^I = softmax_k(I_k·W^I·x^I) over real sessions,
/// and U^H likewise over H_k, x^I = the target's embeddings.</item>
/// </list>
/// The MLP reads the profile and target embeddings, U^I, U^H and dense features → one logit.
/// Only real sessions enter the extractor (they are gathered first), so empty sessions cost nothing
/// and users without sessions get U = 0.
/// </summary>
public sealed class Dsin : CtrModel<DsinOptions>
{
    private readonly FeatureEmbeddings _emb;
    private readonly Dictionary<string, SessionInterest> _groups = new();

    public Dsin(FeatureSchema schema, DsinOptions options) : base(schema, options)
    {
        if (schema.SessionGroups.Count == 0) throw new SchemaException("DSIN needs at least one session group (target ↔ session pairs) in the schema.");
        var rng = new Rng(options.Seed);
        _emb = RegisterModule("embeddings", new FeatureEmbeddings(schema, rng, options.EmbeddingInitStd));
        var groups = RegisterModule("sessions", new ModuleDictLike());
        int width = BaseInputWidth();
        foreach (var g in schema.SessionGroups)
        {
            var first = schema.Session(g.Pairs[0].Sessions);
            int dim = GroupDim(g);
            if (dim % options.SessionHeads != 0)
                throw new SchemaException($"session group '{g.Name}': its width {dim} is not divisible by model.session_heads = {options.SessionHeads}");
            _groups[g.Name] = groups.Add(g.Name, new SessionInterest(dim, first.MaxSessions, first.MaxLength, options, rng));
            width += options.SessionInteracting ? 2 * dim : dim;
        }
        RegisterHead(width, rng);
    }

    public override FeatureEmbeddings Embeddings => _emb;

    public override ForwardResult Forward(ModelInput x, ForwardOutputs outputs = ForwardOutputs.Logits)
    {
        var attention = (outputs & ForwardOutputs.Attention) != 0 ? new Dictionary<string, Tensor>() : null;
        var parts = new List<Tensor>();
        AddProfile(parts, x);                                                                                       // [B, E] each
        foreach (var g in Schema.SessionGroups)
        {
            var query = _emb.Query(x, g);                                                                          // [B, E]: targets side by side
            var sessions = _emb.Sessions(x, g);                                                                    // [B, S, L, E]: sessions side by side
            var r = _groups[g.Name].Forward(query, sessions, x.Session(g.Pairs[0].Sessions), itemShares: attention is not null, sharedUser: x.SharedUser);
            parts.Add(r.UI);                                                                                       // [B, E]
            if (r.UH is not null) parts.Add(r.UH);                                                                 // [B, E]
            if (attention is null) continue;
            attention[g.Name + ".extractor"] = r.ExtractorWeights;
            if (r.InteractingWeights is { } w) attention[g.Name + ".interacting"] = w;
            attention[g.Name + ".items"] = r.ItemShares!;
        }
        return new ForwardResult(Head(parts, x), null, attention ?? ForwardResult.NoAttention);                   // [B]
    }
}
