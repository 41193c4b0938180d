using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Engine.Modules;

namespace DeepInterest.Models.Networks;

/// <summary>
/// Deep Interest Evolution Network (Zhou et al., AAAI 2019, Fig. 1). Per attention group:
/// an interest extractor GRU turns behaviours e_t into interest states h_t (§4.2), trained with
/// the auxiliary loss that asks h_t to tell the next clicked behaviour e_{t+1} from a sampled
/// negative e'_{t+1}; an interest evolving layer (§4.3) combines the states with their attention
/// to the candidate — GRU then attention pooling, AIGRU (attention-scaled inputs), AGRU or AUGRU —
/// and its last real state joins the other features in the MLP. Loss = BCE + α·L_aux.
/// </summary>
public sealed class Dien : CtrModel
{
    private readonly FeatureEmbeddings _emb;
    private readonly Dictionary<string, (Gru Extractor, ActivationUnit Attention, Gru Evolution, Mlp? AuxMlp, Linear? AuxOut)> _groups = new();
    private readonly List<Tensor> _parts = new();
    private int[] _auxRows = [], _auxNext = [];
    private Tensor? _auxLoss;

    public Dien(FeatureSchema schema, ModelOptions options) : base(schema, options)
    {
        if (schema.Groups.Count == 0) throw new SchemaException("DIEN needs at least one attention group (target ↔ history pairs) in the schema.");
        if (options.AuxLossWeight > 0)
            foreach (var g in schema.Groups)
                foreach (var p in g.Pairs)
                    if (p.NegativeHistory is null)
                        throw new SchemaException($"attention group '{g.Name}': DIEN's auxiliary loss needs a negative history for '{p.History}' (or set model.aux_loss_weight: 0)");
        var rng = new Rng(options.Seed);
        _emb = RegisterModule("embeddings", new FeatureEmbeddings(schema, rng, options.EmbeddingInitStd));
        var groups = RegisterModule("interest", new ModuleDictLike());
        int width = BaseInputWidth();
        foreach (var g in schema.Groups)
        {
            int dim = GroupDim(g);
            var m = groups.Add(g.Name, new ModuleDictLike());
            var extractor = m.Add("extractor", new Gru(dim, dim, rng));
            var attention = m.Add("attention", new ActivationUnit(dim, new MlpOptions(options.AttentionHidden, options.AttentionActivation, options.AttentionDropout, options.AttentionBatchNorm), rng));
            var kind = options.Evolution switch { EvolutionKind.Agru => GruKind.Agru, EvolutionKind.Augru => GruKind.Augru, _ => GruKind.Gru };
            var evolution = m.Add("evolution", new Gru(dim, dim, rng, kind));
            Mlp? auxMlp = null; Linear? auxOut = null;
            if (options.AuxLossWeight > 0)
            {
                auxMlp = m.Add("aux_mlp", new Mlp(2 * dim, new MlpOptions(options.AuxHidden, Activation.Sigmoid), rng));
                auxOut = m.Add("aux_out", new Linear(auxMlp.OutFeatures, 1, rng));
            }
            _groups[g.Name] = (extractor, attention, evolution, auxMlp, auxOut);
            width += dim;
        }
        RegisterHead(width, rng);
    }

    public override FeatureEmbeddings Embeddings => _emb;

    public override Tensor Forward(ModelInput x) => Run(x, withAux: false);

    public override Tensor Loss(ModelInput x)
    {
        var loss = F.BinaryCrossEntropyWithLogits(Run(x, withAux: Options.AuxLossWeight > 0), x.Labels);
        return Regularize(_auxLoss is null ? loss : F.Add(loss, F.MulScalar(_auxLoss, Options.AuxLossWeight)), x);
    }

    private Tensor Run(ModelInput x, bool withAux)
    {
        _parts.Clear();
        _auxLoss = null;
        AddProfile(_parts, x);                                                                                      // [B, E] each
        foreach (var g in Schema.Groups)
        {
            var (extractor, attention, evolution, auxMlp, auxOut) = _groups[g.Name];
            var query = _emb.Query(x, g);                                                                          // [B, E]
            var keys = _emb.Keys(x, g);                                                                            // [B, T, E]
            var (_, mask, lengths) = x.Sequence(g.Pairs[0].History);
            var interests = extractor.Forward(keys, lengths).Outputs;                                              // [B, T, E]
            if (withAux) AddAuxLoss(interests, keys, _emb.Keys(x, g, negative: true), lengths, auxMlp!, auxOut!);
            Tensor final;
            if (Options.Evolution == EvolutionKind.GruAttention)
            {
                var evolved = evolution.Forward(interests, lengths).Outputs;                                       // [B, T, E]
                var w = Normalize(attention.Forward(query, evolved, mask), mask);
                LastWeights[g.Name] = w;
                final = F.WeightedSum(w, evolved, mask);
            }
            else
            {
                var w = Normalize(attention.Forward(query, interests, mask), mask);                               // [B, T]
                LastWeights[g.Name] = w;
                final = Options.Evolution == EvolutionKind.Aigru
                    ? evolution.Forward(F.Mul(interests, F.Reshape(w, w.Shape.Append(1))), lengths).Last
                    : evolution.Forward(interests, lengths, w).Last;                                                // [B, E]
            }
            _parts.Add(final);
        }
        return Head(_parts, x);                                                                                    // [B]
    }

    private Tensor Normalize(Tensor scores, Mask mask) => Options.Normalization switch
    {
        AttentionNormalization.Softmax => F.MaskedSoftmax(scores, mask),
        AttentionNormalization.Sigmoid => F.MaskedSigmoid(scores, mask),
        _ => scores,
    };

    /// <summary>
    /// L_aux (paper eq. 6): h_t should score the clicked e_{t+1} high and the negative e'_{t+1} low,
    /// for t = 0 … len − 2 (real pairs only); the mean over both kinds of pairs.
    /// </summary>
    private void AddAuxLoss(Tensor interests, Tensor keys, Tensor negKeys, IntTensor lengths, Mlp auxMlp, Linear auxOut)
    {
        int b = keys.Shape[0], t = keys.Shape[1];
        if (t < 2) return;
        var lens = lengths.Span;
        // Only real (h_t, e_{t+1}) pairs go through the auxiliary net, gathered as rows: the N clicked
        // pairs, then the N negative ones, in one pass (the loss is the mean over 2N, i.e. the average
        // of the two halves' means). Row (b, s) of the pairs reads state b·T + s and behaviour b·T + s + 1.
        if (_auxRows.Length < 2 * b * (t - 1)) { _auxRows = new int[2 * b * (t - 1)]; _auxNext = new int[b * (t - 1)]; }
        int n = 0;
        for (int i = 0; i < b; i++)
            for (int s = 0; s < lens[i] - 1; s++) { _auxRows[n] = i * t + s; _auxNext[n++] = i * t + s + 1; }
        if (n == 0) return;
        Array.Copy(_auxRows, 0, _auxRows, n, n);
        var states = F.GatherRows(interests, _auxRows, 2 * n);                                                  // [2N, E]
        var next = F.ConcatRows(F.GatherRows(keys, _auxNext, n), F.GatherRows(negKeys, _auxNext, n));           // [2N, E]
        var logits = F.Reshape(auxOut.Forward(auxMlp.Forward(F.ConcatLast(states, next))), new Shape(2 * n));   // [2N]
        var labels = Tensor.Empty(new Shape(2 * n));
        labels.Span[..n].Fill(1f); labels.Span[n..].Clear();
        _auxLoss = F.BinaryCrossEntropyWithLogits(logits, labels);
    }
}
