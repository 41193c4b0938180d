using DeepInterest.Engine;
using DeepInterest.Engine.Modules;
using DeepInterest.Models.Networks;

namespace DeepInterest.Models.Layers;

/// <summary>
/// DIEN's layers for one attention group (Zhou et al., AAAI 2019, Fig. 1): the interest extractor
/// GRU (§4.2) with its auxiliary network, the attention of the candidate over the interest states
/// (DIN's activation unit, as the authors' code), and the interest evolving layer (§4.3). Keys
/// <c>extractor.*</c>, <c>attention.*</c>, <c>evolution.*</c> (nn.GRU names), <c>aux_mlp.*</c>, <c>aux_out.*</c>.
/// </summary>
public sealed class InterestEvolution : Module
{
    private readonly EvolutionKind _kind;
    private readonly AttentionNormalization _normalization;

    public Gru Extractor { get; }
    public ActivationUnit Attention { get; }
    public Gru Evolution { get; }
    public Mlp? AuxMlp { get; }
    public Linear? AuxOut { get; }

    /// <summary>Layers for behaviours (and a query) of width <paramref name="dim"/>; the auxiliary net only when α &gt; 0.</summary>
    public InterestEvolution(int dim, DienOptions o, Rng rng)
    {
        _kind = o.Evolution;
        _normalization = o.Normalization;
        Extractor = RegisterModule("extractor", new Gru(dim, dim, rng));
        Attention = RegisterModule("attention", new ActivationUnit(dim, o.AttentionMlp, rng));
        var gru = o.Evolution switch { EvolutionKind.Agru => GruKind.Agru, EvolutionKind.Augru => GruKind.Augru, _ => GruKind.Gru };
        Evolution = RegisterModule("evolution", new Gru(dim, dim, rng, gru));
        if (o.AuxLossWeight > 0)
        {
            AuxMlp = RegisterModule("aux_mlp", new Mlp(2 * dim, new MlpOptions(o.AuxHidden, Activation.Sigmoid), rng));
            AuxOut = RegisterModule("aux_out", new Linear(AuxMlp.OutFeatures, 1, rng));
        }
    }

    /// <summary>The interest extractor (§4.2): behaviours [B, T, E] with their lengths → interest states h_t [B, T, E].</summary>
    public Tensor Extract(Tensor keys, IntTensor lengths) => Extractor.Forward(keys, lengths).Outputs;

    /// <summary>
    /// The interest evolving layer (§4.3): query [B, E] and the interest states [B, T, E] of the real
    /// steps → the final interest [B, E] and the attention weights [B, T].
    /// </summary>
    public (Tensor Interest, Tensor Weights) Evolve(Tensor query, Tensor interests, Mask mask, IntTensor lengths)
    {
        if (_kind == EvolutionKind.GruAttention)
        {
            var evolved = Evolution.Forward(interests, lengths).Outputs;                                           // [B, T, E]
            var w = Din.Normalize(Attention.Forward(query, evolved, mask), mask, _normalization);
            return (F.WeightedSum(w, evolved, mask), w);
        }
        var weights = Din.Normalize(Attention.Forward(query, interests, mask), mask, _normalization);             // [B, T]
        var final = _kind == EvolutionKind.Aigru
            ? Evolution.Forward(F.Mul(interests, F.Reshape(weights, weights.Shape.Append(1))), lengths).Last
            : Evolution.Forward(interests, lengths, weights).Last;                                                 // [B, E]
        return (final, weights);
    }

    /// <summary>
    /// L_aux (paper eq. 6): h_t should score the clicked e_{t+1} high and the negative e'_{t+1} low,
    /// for t = 0 … len − 2 (real pairs only); the mean over both kinds of pairs.
    /// </summary>
    /// <remarks>interests [B, T, E] from <see cref="Extract"/>, clicked and negative behaviours [B, T, E]; null when no row has two real steps.</remarks>
    public Tensor? AuxLoss(Tensor interests, Tensor keys, Tensor negKeys, IntTensor lengths)
    {
        if (AuxMlp is null || AuxOut is null) throw new InvalidOperationException("this DIEN was built without the auxiliary network (model.aux_loss_weight: 0)");
        int b = keys.Shape[0], t = keys.Shape[1];
        if (t < 2) return null;
        var lens = lengths.Span;
        // Only real (h_t, e_{t+1}) pairs go through the auxiliary net, gathered as rows: the N clicked
        // pairs, then the N negative ones, in one pass (the loss is the mean over 2N, i.e. the average
        // of the two halves' means). Row (b, s) of the pairs reads state b·T + s and behaviour b·T + s + 1.
        var rows = Arena.Ints(2 * b * (t - 1));
        var next = Arena.Ints(b * (t - 1));
        int n = 0;
        for (int i = 0; i < b; i++)
            for (int s = 0; s < lens[i] - 1; s++) { rows[n] = i * t + s; next[n++] = i * t + s + 1; }
        if (n == 0) return null;
        Array.Copy(rows, 0, rows, n, n);
        var states = F.GatherRows(interests, rows, 2 * n);                                                      // [2N, E]
        var targets = F.ConcatRows(F.GatherRows(keys, next, n), F.GatherRows(negKeys, next, n));                 // [2N, E]
        var logits = F.Reshape(AuxOut.Forward(AuxMlp.Forward(F.ConcatLast(states, targets))), new Shape(2 * n));  // [2N]
        var labels = Tensor.Empty(new Shape(2 * n));
        labels.Span[..n].Fill(1f); labels.Span[n..].Clear();
        return F.BinaryCrossEntropyWithLogits(logits, labels);
    }
}
