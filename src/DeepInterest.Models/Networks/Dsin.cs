using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Engine.Modules;

namespace DeepInterest.Models.Networks;

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
public sealed class Dsin : CtrModel
{
    private readonly FeatureEmbeddings _emb;
    private readonly Dictionary<string, SessionInterest> _groups = new();
    private readonly List<Tensor> _parts = new();

    public Dsin(FeatureSchema schema, ModelOptions options) : base(schema, options)
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

    public override Tensor Forward(ModelInput x)
    {
        _parts.Clear();
        AddProfile(_parts, x);                                                                                      // [B, E] each
        foreach (var g in Schema.SessionGroups)
        {
            var query = _emb.Query(x, g);                                                                          // [B, E]: targets side by side
            var sessions = _emb.Sessions(x, g);                                                                    // [B, S, L, E]: sessions side by side
            var unit = _groups[g.Name];
            var (ui, uh) = unit.Forward(query, sessions, x.Session(g.Pairs[0].Sessions));
            _parts.Add(ui);                                                                                        // [B, E]
            if (uh is not null) _parts.Add(uh);                                                                    // [B, E]
            LastWeights[g.Name + ".extractor"] = unit.ExtractorWeights!;
            if (unit.InteractingWeights is { } w) LastWeights[g.Name + ".interacting"] = w;
            if (unit.ItemWeights is { } items) LastWeights[g.Name + ".items"] = items;
        }
        return Head(_parts, x);                                                                                    // [B]
    }
}

/// <summary>
/// One session group's extractor, interacting and activating layers (keys <c>bias_encoding.*</c>,
/// <c>extractor.*</c> (nn.TransformerEncoderLayer names), <c>interacting.*</c> (nn.LSTM names,
/// bidirectional), <c>activate_extractor.*</c>, <c>activate_interacting.*</c>).
/// </summary>
public sealed class SessionInterest : Module
{
    private readonly ModelOptions _o;
    private readonly int _dim;
    private readonly BiasEncoding? _bias;
    private readonly TransformerEncoderLayer _extractor;
    private readonly Lstm? _interacting;
    private readonly Module _activateI, _activateH;
    private int[] _real = [], _lengths = [];
    private readonly Mask _itemMask = Mask.FromLengths([], 1);

    public SessionInterest(int dim, int maxSessions, int maxLength, ModelOptions o, Rng rng)
    {
        _o = o; _dim = dim;
        if (o.SessionEncoding == SessionEncoding.Bias) _bias = RegisterModule("bias_encoding", new BiasEncoding(maxSessions, maxLength, dim));
        _extractor = RegisterModule("extractor", new TransformerEncoderLayer(dim, o.SessionHeads, o.SessionFeedForward > 0 ? o.SessionFeedForward : dim, rng, o.AttentionDropout));
        if (o.SessionInteracting) _interacting = RegisterModule("interacting", new Lstm(dim, dim, rng, bidirectional: true));
        _activateI = RegisterModule("activate_extractor", Activator(dim, o, rng));
        _activateH = o.SessionInteracting ? RegisterModule("activate_interacting", Activator(dim, o, rng)) : _activateI;
    }

    /// <summary>Pooling weights over sessions [B, S] of the last pass: from the extractor outputs and from the Bi-LSTM outputs.</summary>
    public Tensor? ExtractorWeights { get; private set; }
    public Tensor? InteractingWeights { get; private set; }

    /// <summary>
    /// How much each behaviour contributes to its session interest in the last evaluation-mode pass [B, S, L]: the
    /// self-attention weight it receives, averaged over heads and real query positions (the session
    /// interest is the average of the attended outputs, so this is its share of that average).
    /// </summary>
    public Tensor? ItemWeights { get; private set; }

    private static Module Activator(int dim, ModelOptions o, Rng rng) => o.SessionActivation == SessionActivation.Bilinear
        ? new Linear(dim, dim, rng, bias: false)
        : new ActivationUnit(dim, new MlpOptions(o.AttentionHidden, o.AttentionActivation, o.AttentionDropout), rng);

    /// <summary>query [B, E], sessions [B, S, L, E] → (U^I [B, E], U^H [B, E] or null without the interacting layer).</summary>
    public (Tensor UI, Tensor? UH) Forward(Tensor query, Tensor sessions, SessionInput input)
    {
        int b = sessions.Shape[0], s = sessions.Shape[1], l = sessions.Shape[2], e = _dim;
        if (_bias is not null) sessions = _bias.Forward(sessions);
        else if (_o.SessionEncoding == SessionEncoding.Positional) sessions = F.Add(sessions, Positional(l, e));

        // Gather the real sessions: [N, L, E] with their item mask.
        if (_real.Length < b * s) { _real = new int[b * s]; _lengths = new int[b * s]; }
        int n = 0;
        var sm = input.Sessions.Values;
        for (int i = 0; i < b * s; i++)
            if (sm[i]) { _real[n] = i; n++; }
        for (int j = 0; j < n; j++) _lengths[j] = input.Items.CountRow(_real[j]);
        _itemMask.SetFromLengths(_lengths.AsSpan(0, n), l);
        Tensor interests;                                                                                    // [B, S, E]
        if (n == 0)
        {
            interests = Tensor.ZerosTemp(new Shape(b, s, e));
            ItemWeights = Tensor.ZerosTemp(new Shape(b, s, l));
        }
        else
        {
            var q = F.Reshape(F.GatherRows(F.Reshape(sessions, new Shape(b * s, l * e)), _real, n), new Shape(n, l, e));
            var y = _extractor.Forward(q, _itemMask);                                                        // [N, L, E]
            var pooled = F.MaskedPool(y, _itemMask, F.Pooling.Mean);                                         // [N, E]
            interests = F.Reshape(F.ScatterRows(pooled, _real, new Shape(b * s, e)), new Shape(b, s, e));
            // Only explanations read the behaviour shares; training skips the extra pass.
            ItemWeights = Training ? null : ItemShares(_extractor.SelfAttn.LastWeights!, n, l, b, s);
        }

        var ui = Activate(_activateI, query, interests, input.Sessions, out var wi);
        ExtractorWeights = wi;
        if (_interacting is null) { InteractingWeights = null; return (ui, null); }
        var both = _interacting.Forward(interests, input.Counts).Outputs;                                   // [B, S, 2E]
        var h = F.Add(F.SliceLast(both, 0, e), F.SliceLast(both, e, e));                                     // [B, S, E]
        var uh = Activate(_activateH, query, h, input.Sessions, out var wh);
        InteractingWeights = wh;
        return (ui, uh);
    }

    private static Tensor Activate(Module unit, Tensor query, Tensor keys, Mask sessions, out Tensor weights)
    {
        int b = keys.Shape[0], s = keys.Shape[1], e = keys.Shape[2];
        Tensor scores;
        if (unit is Linear w)
        {
            var v = F.Reshape(w.Forward(query), new Shape(b, e, 1));                                          // W·x [B, E, 1]
            scores = F.Reshape(F.MatMul(keys, v), new Shape(b, s));                                           // I_k·W·x [B, S]
        }
        else scores = ((ActivationUnit)unit).Forward(query, keys, sessions);
        weights = F.MaskedSoftmax(scores, sessions);
        return F.WeightedSum(weights, keys, sessions);                                                        // [B, E]
    }

    /// <summary>Column means of the self-attention weights [N, H, L, L] over heads and real queries, scattered to [B, S, L].</summary>
    private Tensor ItemShares(Tensor attn, int n, int l, int b, int s)
    {
        int heads = attn.Shape[1];
        var result = Tensor.ZerosTemp(new Shape(b, s, l));
        var a = attn.Span; var r = result.Span;
        for (int j = 0; j < n; j++)
        {
            int len = _lengths[j];
            if (len == 0) continue;
            var dst = r.Slice(_real[j] * l, l);
            float scale = 1f / (heads * len);
            for (int h = 0; h < heads; h++)
                for (int qi = 0; qi < len; qi++)
                {
                    var row = a.Slice(((j * heads + h) * l + qi) * l, l);
                    for (int k = 0; k < len; k++) dst[k] += row[k] * scale;
                }
        }
        return result;
    }

    /// <summary>The Transformer's sinusoidal encoding [1, 1, L, E]: PE(t, 2i) = sin(t/10000^{2i/E}), PE(t, 2i+1) = cos(…).</summary>
    private static Tensor Positional(int l, int e)
    {
        var pe = Tensor.Empty(new Shape(1, 1, l, e));
        var p = pe.Span;
        for (int t = 0; t < l; t++)
            for (int c = 0; c < e; c++)
            {
                double angle = t / Math.Pow(10000, 2 * (c / 2) / (double)e);
                p[t * e + c] = (float)(c % 2 == 0 ? Math.Sin(angle) : Math.Cos(angle));
            }
        return pe;
    }
}

/// <summary>
/// DSIN's bias encoding (§4.2): BE(k, t, c) = w_k^K + w_t^T + w_c^C added to session k, position t,
/// unit c of the behaviour embeddings. Keys <c>session</c> [S], <c>position</c> [L], <c>unit</c> [E], initialized to 0.
/// </summary>
public sealed class BiasEncoding : Module
{
    public Tensor Session { get; }
    public Tensor Position { get; }
    public Tensor Unit { get; }

    public BiasEncoding(int sessions, int length, int dim)
    {
        Session = RegisterParameter("session", new Tensor(new Shape(sessions)));
        Position = RegisterParameter("position", new Tensor(new Shape(length)));
        Unit = RegisterParameter("unit", new Tensor(new Shape(dim)));
    }

    /// <summary>x [B, S, L, E] with S, L no larger than the configured maxima → x + BE.</summary>
    public Tensor Forward(Tensor x)
    {
        int s = x.Shape[1], l = x.Shape[2], e = x.Shape[3];
        var wk = F.Reshape(F.SliceLast(Session, 0, s), new Shape(1, s, 1, 1));
        var wt = F.Reshape(F.SliceLast(Position, 0, l), new Shape(1, 1, l, 1));
        var wc = F.Reshape(Unit, new Shape(1, 1, 1, e));
        return F.Add(F.Add(F.Add(x, wk), wt), wc);
    }
}
