using DeepInterest.Engine;
using DeepInterest.Engine.Modules;
using DeepInterest.Models.Networks;

namespace DeepInterest.Models.Layers;

/// <summary>What <see cref="SessionInterest.Forward"/> found for one session group (tensors of the call's arena).</summary>
/// <param name="UI">U^I [B, E]: the activated session interests.</param>
/// <param name="UH">U^H [B, E]: the activated Bi-LSTM states (null without the interacting layer).</param>
/// <param name="ExtractorWeights">a^I [B, S] over real sessions.</param>
/// <param name="InteractingWeights">a^H [B, S] (null without the interacting layer).</param>
/// <param name="ItemShares">[B, S, L] each behaviour's share of its session interest, when asked for.</param>
public sealed record SessionInterestResult(Tensor UI, Tensor? UH, Tensor ExtractorWeights, Tensor? InteractingWeights, Tensor? ItemShares);

/// <summary>
/// One session group's extractor, interacting and activating layers (keys <c>bias_encoding.*</c>,
/// <c>extractor.*</c> (nn.TransformerEncoderLayer names), <c>interacting.*</c> (nn.LSTM names,
/// bidirectional), <c>activate_extractor.*</c>, <c>activate_interacting.*</c>).
/// </summary>
public sealed class SessionInterest : Module
{
    private readonly DsinOptions _o;
    private readonly int _dim;
    private readonly BiasEncoding? _bias;
    private readonly TransformerEncoderLayer _extractor;
    private readonly Lstm? _interacting;
    private readonly Module _activateI, _activateH;

    public SessionInterest(int dim, int maxSessions, int maxLength, DsinOptions o, Rng rng)
    {
        _o = o; _dim = dim;
        if (o.SessionEncoding == SessionEncoding.Bias) _bias = RegisterModule("bias_encoding", new BiasEncoding(maxSessions, maxLength, dim));
        _extractor = RegisterModule("extractor", new TransformerEncoderLayer(dim, o.SessionHeads, o.SessionFeedForward > 0 ? o.SessionFeedForward : dim, rng, o.AttentionDropout));
        if (o.SessionInteracting) _interacting = RegisterModule("interacting", new Lstm(dim, dim, rng, bidirectional: true));
        _activateI = RegisterModule("activate_extractor", Activator(dim, o, rng));
        _activateH = o.SessionInteracting ? RegisterModule("activate_interacting", Activator(dim, o, rng)) : _activateI;
    }

    private static Module Activator(int dim, DsinOptions o, Rng rng) => o.SessionActivation == SessionActivation.Bilinear
        ? new Linear(dim, dim, rng, bias: false)
        : new ActivationUnit(dim, new MlpOptions(o.AttentionHidden, o.AttentionActivation, o.AttentionDropout), rng);

    /// <summary>
    /// query [B, E], sessions [B, S, L, E] → U^I [B, E], U^H [B, E] (null without the interacting
    /// layer), the activation weights over sessions [B, S] from the extractor and from the Bi-LSTM, and,
    /// when <paramref name="itemShares"/>, how much each behaviour contributes to its session interest
    /// [B, S, L]: the self-attention weight it receives, averaged over heads and real query positions
    /// (the session interest is the average of the attended outputs, so this is its share of that average).
    /// </summary>
    public SessionInterestResult Forward(Tensor query, Tensor sessions, SessionInput input, bool itemShares = false, bool sharedUser = false)
    {
        int b = sessions.Shape[0];
        // One user for every row (a ranking request): the user's session interests and Bi-LSTM states
        // are computed on row 0 alone and repeated for each candidate.
        var first = sharedUser && b > 1 ? SessionInput.FirstRow(input) : null;
        Tensor Each(Tensor t) => first is null ? t : CtrModel.RepeatFirstRow(t, b);
        var (own, shares) = first is null ? Interests(sessions, input, itemShares) : Interests(CtrModel.FirstRow(sessions), first, itemShares);
        var ui = Activate(_activateI, query, Each(own), input.Sessions, out var wi);
        var result = new SessionInterestResult(ui, null, wi, null, shares is null ? null : Each(shares));
        if (Interact(own, first ?? input) is not { } h) return result;
        var uh = Activate(_activateH, query, Each(h), input.Sessions, out var wh);
        return result with { UH = uh, InteractingWeights = wh };
    }

    /// <summary>The interacting layer (§4.3): the Bi-LSTM over I_1 … I_S with both directions summed → H [B, S, E], or null without it.</summary>
    private Tensor? Interact(Tensor interests, SessionInput input)
    {
        if (_interacting is null) return null;
        var both = _interacting.Forward(interests, input.Counts).Outputs;                                   // [B, S, 2E]
        return F.Add(F.SliceLast(both, 0, _dim), F.SliceLast(both, _dim, _dim));                            // [B, S, E]
    }

    /// <summary>
    /// The extractor (§4.2): sessions [B, S, L, E] → session interests I_k [B, S, E] and, when asked,
    /// each behaviour's share of its session interest [B, S, L].
    /// </summary>
    private (Tensor Interests, Tensor? Shares) Interests(Tensor sessions, SessionInput input, bool itemShares)
    {
        int b = sessions.Shape[0], s = sessions.Shape[1], l = sessions.Shape[2], e = _dim;
        if (_bias is not null) sessions = _bias.Forward(sessions);
        else if (_o.SessionEncoding == SessionEncoding.Positional) sessions = F.Add(sessions, Positional(l, e));

        // Gather the real sessions: [N, L, E] with their item mask (the call's own index lists).
        var real = Arena.Ints(b * s);
        var lengths = Arena.Ints(b * s);
        int n = 0;
        var sm = input.Sessions.Values;
        for (int i = 0; i < b * s; i++)
            if (sm[i]) { real[n] = i; n++; }
        for (int j = 0; j < n; j++) lengths[j] = input.Items.CountRow(real[j]);
        var itemMask = new Mask(Arena.Bools(Math.Max(1, n * l)), n, l);
        itemMask.SetFromLengths(lengths.AsSpan(0, n), l);
        Tensor interests;                                                                                    // [B, S, E]
        Tensor? shares = null;
        if (n == 0)
        {
            interests = Tensor.ZerosTemp(new Shape(b, s, e));
            if (itemShares) shares = Tensor.ZerosTemp(new Shape(b, s, l));
        }
        else
        {
            var q = F.Reshape(F.GatherRows(F.Reshape(sessions, new Shape(b * s, l * e)), real, n), new Shape(n, l, e));
            var y = _extractor.Forward(q, itemMask, out var selfAttention);                                 // [N, L, E]
            var pooled = F.MaskedPool(y, itemMask, F.Pooling.Mean);                                         // [N, E]
            interests = F.Reshape(F.ScatterRows(pooled, real, new Shape(b * s, e)), new Shape(b, s, e));
            if (itemShares) shares = ItemShares(selfAttention, n, l, b, s, real, lengths);
        }
        return (interests, shares);
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
    private static Tensor ItemShares(Tensor attn, int n, int l, int b, int s, int[] real, int[] lengths)
    {
        int heads = attn.Shape[1];
        var result = Tensor.ZerosTemp(new Shape(b, s, l));
        var a = attn.Span; var r = result.Span;
        for (int j = 0; j < n; j++)
        {
            int len = lengths[j];
            if (len == 0) continue;
            var dst = r.Slice(real[j] * l, l);
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
