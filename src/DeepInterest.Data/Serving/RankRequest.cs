using DeepInterest.Data.Batches;

namespace DeepInterest.Data.Serving;

/// <summary>
/// One past behaviour of the user, by raw item id. <see cref="Time"/> (Unix seconds) is needed only
/// by models that cut the history into sessions (DSIN); other models ignore it.
/// </summary>
public sealed record Behaviour(string Item, long? Time = null);

/// <summary>
/// What a caller knows when it asks for scores: raw values only, as they appear in the training data
/// (no encoded ids). <see cref="ServingSpec.Encode"/> turns it into one model row per candidate.
/// </summary>
public sealed record RankRequest
{
    /// <summary>The raw user id; null or never seen in training → the unknown id (<see cref="ServingVocabulary.Unknown"/>).</summary>
    public string? User { get; init; }

    /// <summary>Raw user-side fields by raw column name (<see cref="ServingSpec.ProfileFields"/>; movielens_seed: gender, age, occupation, zipCode). Extra fields are ignored.</summary>
    public IReadOnlyDictionary<string, string>? Profile { get; init; }

    /// <summary>The behaviour history, oldest first (the order the protocols build histories in).</summary>
    public IReadOnlyList<Behaviour> History { get; init; } = [];

    /// <summary>Raw ids of the items to score; one row each, in this order.</summary>
    public IReadOnlyList<string> Candidates { get; init; } = [];
}

/// <summary>
/// A request field that is wrong, named the way a client wrote it — <c>candidates</c>,
/// <c>candidates[2]</c>, <c>history[3].time</c>, <c>profile.age</c> — so a server can answer
/// HTTP 400 naming <see cref="Field"/>. Unknown ids are never this error: they map to the unknown id.
/// </summary>
public sealed class RequestException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}

/// <summary>
/// A request encoded for the model: <see cref="Rows"/> holds one row per candidate, in candidate
/// order, with the same user side in every row (labels 0). <see cref="HistoryUsed"/> is how many of
/// the <see cref="HistoryGiven"/> behaviours the flat history kept (the most recent ones);
/// <see cref="UnknownCandidates"/> and <see cref="UnknownBehaviours"/> count raw item ids (among the
/// candidates, among all given behaviours) the training data never numbered.
/// </summary>
public sealed record EncodedRequest(CtrDataset Rows, int HistoryGiven, int HistoryUsed, int UnknownCandidates, int UnknownBehaviours);

/// <summary>
/// Rows read from a raw file (<see cref="ServingSpec.ReadFile"/>) with each row's raw user and item
/// id, so that predictions and explanations can name them. <see cref="HasLabels"/> is false when
/// the file has no label column (every label is then 0 and only prediction makes sense).
/// </summary>
public sealed record RawRows(CtrDataset Data, IReadOnlyList<string> Users, IReadOnlyList<string> Items, bool HasLabels);

/// <summary>
/// The raw strings behind the ids of a DIN-protocol log (<see cref="Protocols.DinProtocol"/>): index =
/// id, null where an id has no raw value (always index 0, the padding id). <see cref="Protocol"/> is
/// the config name of the protocol that numbered them (ml1m_din, amazon_din, behaviour_log);
/// <see cref="ItemNames"/> holds display names by raw item id where the data has them.
/// </summary>
public sealed record RawIds(string Protocol, IReadOnlyList<string?> Users, IReadOnlyList<string?> Items, IReadOnlyList<string?> Categories)
{
    public IReadOnlyDictionary<string, string>? ItemNames { get; init; }
}
