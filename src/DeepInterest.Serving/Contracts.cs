using System.Text.Json.Serialization;

namespace DeepInterest.Serving;

// The JSON shapes of the HTTP API, for the OpenAPI document and the responses. Requests are parsed
// by RequestParser (field-by-field, so every mistake names its field); these records describe them.

/// <summary>A behaviour of the history: a raw item id and, for session models (DSIN), its Unix time in seconds.</summary>
public sealed record BehaviourBody([property: JsonPropertyName("item")] string Item, [property: JsonPropertyName("time")] long? Time);

/// <summary>
/// POST /v1/rank. <c>history</c> is oldest first; each entry is an item id (string or number) or
/// {"item": id, "time": seconds}. <c>profile</c> holds raw user fields for models that read them
/// (the MovieLens tutorial data: gender, age, occupation, zipCode).
/// </summary>
public sealed record RankRequestBody(
    [property: JsonPropertyName("user")] string? User,
    [property: JsonPropertyName("profile")] Dictionary<string, string>? Profile,
    [property: JsonPropertyName("history")] List<BehaviourBody> History,
    [property: JsonPropertyName("candidates")] List<string> Candidates,
    [property: JsonPropertyName("attention")] bool Attention);

/// <summary>One candidate: raw id, click probability, rank (1 = most likely) and optional attention weights.</summary>
public sealed record CandidateBody(
    [property: JsonPropertyName("item")] string Item,
    [property: JsonPropertyName("probability")] float Probability,
    [property: JsonPropertyName("rank")] int Rank,
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("attention")] float[]? Attention);

/// <summary>How much of the history the model read (the most recent behaviours, up to its cap).</summary>
public sealed record HistoryUse([property: JsonPropertyName("given")] int Given, [property: JsonPropertyName("used")] int Used, [property: JsonPropertyName("truncated")] bool Truncated);

/// <summary>Ids never seen in training, scored with the unknown id (not an error).</summary>
public sealed record UnknownIds([property: JsonPropertyName("candidates")] int Candidates, [property: JsonPropertyName("behaviours")] int Behaviours);

/// <summary>The model that answered.</summary>
public sealed record ModelRef([property: JsonPropertyName("kind")] string Kind, [property: JsonPropertyName("version")] int Version);

/// <summary>The answer to POST /v1/rank: candidates in request order, and their ids from most to least likely.</summary>
public sealed record RankResponseBody(
    [property: JsonPropertyName("model")] ModelRef Model,
    [property: JsonPropertyName("candidates")] IReadOnlyList<CandidateBody> Candidates,
    [property: JsonPropertyName("ranking")] IReadOnlyList<string> Ranking,
    [property: JsonPropertyName("history")] HistoryUse History,
    [property: JsonPropertyName("unknown")] UnknownIds Unknown,
    [property: JsonPropertyName("attention_over")] string? AttentionOver,
    [property: JsonPropertyName("warnings")] IReadOnlyList<string> Warnings);

/// <summary>Every client error: what is wrong, and the request field when one is to blame.</summary>
public sealed record ErrorBody([property: JsonPropertyName("error")] string Error, [property: JsonPropertyName("field")] string? Field);
