using DeepInterest.Data.Batches;
using DeepInterest.Data.Serving;
using DeepInterest.Engine;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Modules;
using DeepInterest.Models.Networks;

namespace DeepInterest.Models.Serving;

/// <summary>One candidate's score: its raw id, click probability and, when asked, its attention weights.</summary>
/// <param name="Item">The raw candidate id, as requested.</param>
/// <param name="Probability">σ(logit).</param>
/// <param name="Attention">
/// DIN/DIEN: the pooling weight of every behaviour of the history the model used (the most recent
/// <see cref="RankResult.HistoryUsed"/>, oldest first); DSIN: the activation of every session (oldest first).
/// Null when not asked for or when the model has no attention.
/// </param>
public sealed record RankedCandidate(string Item, float Probability, float[]? Attention);

/// <summary>A ranking: every candidate in request order, with what the model made of the request.</summary>
/// <param name="Candidates">Scores in the order the candidates were given.</param>
/// <param name="HistoryGiven">Behaviours in the request.</param>
/// <param name="HistoryUsed">Behaviours the model read: the most recent ones, up to its history cap.</param>
/// <param name="UnknownCandidates">Candidates never seen in training (scored with the unknown id).</param>
/// <param name="UnknownBehaviours">Behaviours never seen in training.</param>
/// <param name="AttentionOver">What <see cref="RankedCandidate.Attention"/> weighs: "history", "sessions" or null.</param>
public sealed record RankResult(IReadOnlyList<RankedCandidate> Candidates, int HistoryGiven, int HistoryUsed, int UnknownCandidates, int UnknownBehaviours, string? AttentionOver)
{
    /// <summary>Candidate indices from the most to the least likely click (ties keep request order).</summary>
    public int[] Order() => Enumerable.Range(0, Candidates.Count).OrderByDescending(i => Candidates[i].Probability).ToArray();
}

/// <summary>
/// Ranks one user's candidates with a loaded model folder: raw ids in, click probabilities out. The
/// request's raw values are encoded with the vocabularies, item table and history rule saved with
/// the model (<see cref="ServingSpec"/>), every candidate becomes a row of one batch, and the user's
/// side is computed once for all of them (<see cref="ModelInput.SharedUser"/>): DIEN's interest
/// extractor and DSIN's session interests run once per request, not once per candidate. The result
/// equals scoring each (user, candidate) row on its own. Thread-safe: one ranker serves any number
/// of concurrent requests, without a lock.
/// </summary>
/// <example>
/// <code>
/// var ranker = Ranker.Open("runs/din-ml1m/model");
/// var result = ranker.Rank(new RankRequest
/// {
///     User = "42",
///     History = [new("1193"), new("661"), new("914")],
///     Candidates = ["3408", "2355", "1197"],
/// });
/// foreach (int i in result.Order()) Console.WriteLine($"{result.Candidates[i].Item}: {result.Candidates[i].Probability:F4}");
/// </code>
/// </example>
public sealed class Ranker
{
    private Ranker(ScoringModel scorer, ServingSpec spec)
    {
        Scorer = scorer; Spec = spec; LoadedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>A ranker over an opened folder, which must have its serving spec.</summary>
    public Ranker(ScoringModel scorer) : this(scorer, scorer.Spec ?? throw new ModelFormatException(
        $"{scorer.Directory}: {ServingSpec.FileName} is missing; ranking raw ids needs a model trained by `train` on ml1m_din, amazon_din, behaviour_log or movielens_seed data (synthetic data has no raw ids; retrain older folders)"))
    { }

    /// <summary>The model and its folder.</summary>
    public ScoringModel Scorer { get; }

    /// <summary>How raw request values become the model's ids.</summary>
    public ServingSpec Spec { get; }

    /// <summary>When this ranker was loaded.</summary>
    public DateTimeOffset LoadedAt { get; }

    /// <summary>The model.</summary>
    public CtrModel Model => Scorer.Model;

    /// <summary>Loads a model folder with its serving spec; every problem is a one-line error naming the file.</summary>
    public static Ranker Open(string directory) => new(ScoringModel.Open(directory));

    /// <summary>Scores every candidate of <paramref name="request"/> for its user; <see cref="RequestException"/> names a bad field.</summary>
    public RankResult Rank(RankRequest request, bool attention = false)
    {
        EncodedRequest encoded;
        try { encoded = Spec.Encode(request, Model.Schema); }
        catch (InvalidOperationException e) { throw new ModelFormatException($"{Path.Combine(Scorer.Directory, ServingSpec.FileName)}: {e.Message}"); }
        var rows = encoded.Rows;
        int n = rows.Count;
        var batch = new Batch();
        batch.Fill(rows, Enumerable.Range(0, n).ToArray());
        var input = new ModelInput();
        var probabilities = new float[n];
        float[][]? weights = null;
        string? over = null;
        using (Tape.NoGrad())
        using (Module.Evaluating())
        using (Arena.Begin())
        {
            input.Load(Model.Schema, batch);
            input.SharedUser = true;
            var r = Model.Forward(input, attention ? ForwardOutputs.Attention : ForwardOutputs.Logits);
            System.Numerics.Tensors.TensorPrimitives.Sigmoid(r.Logits.Span, probabilities);
            if (attention) (weights, over) = Weights(r.Attention, batch, n);
        }
        var candidates = new RankedCandidate[n];
        for (int i = 0; i < n; i++) candidates[i] = new RankedCandidate(request.Candidates[i], probabilities[i], weights?[i]);
        return new RankResult(candidates, encoded.HistoryGiven, encoded.HistoryUsed, encoded.UnknownCandidates, encoded.UnknownBehaviours, over);
    }

    /// <summary>Per candidate, the first attention group's weights over the real history, or the first session group's over the real sessions.</summary>
    private (float[][]? Weights, string? Over) Weights(IReadOnlyDictionary<string, Tensor> attention, Batch batch, int n)
    {
        var schema = Model.Schema;
        foreach (var g in schema.Groups)
            if (attention.TryGetValue(g.Name, out var w))
            {
                var (_, lengths, steps) = batch.Sequence(g.Pairs[0].History);
                var rows = new float[n][];
                for (int i = 0; i < n; i++) rows[i] = w.Span.Slice(i * steps, lengths[i]).ToArray();
                return (rows, "history");
            }
        foreach (var g in schema.SessionGroups)
            if (attention.TryGetValue(g.Name + ".extractor", out var w))
            {
                var sb = batch.Sessions(g.Pairs[0].Sessions);
                var rows = new float[n][];
                for (int i = 0; i < n; i++) rows[i] = w.Span.Slice(i * sb.Sessions, sb.Counts[i]).ToArray();
                return (rows, "sessions");
            }
        return (null, null);
    }
}
