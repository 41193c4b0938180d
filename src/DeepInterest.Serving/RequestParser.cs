using System.Globalization;
using System.Text.Json;
using DeepInterest.Data.Serving;

namespace DeepInterest.Serving;

/// <summary>
/// Reads a POST /v1/rank body into a <see cref="RankRequest"/>, field by field, so that every mistake
/// is a <see cref="RequestException"/> naming its field (<c>history[3].time</c>, <c>candidates[0]</c>).
/// Ids may be JSON strings or integers (raw ids are strings in the data; numbers are taken as written).
/// </summary>
public static class RequestParser
{
    private static readonly HashSet<string> TopLevel = ["user", "profile", "history", "candidates", "attention"];

    public static (RankRequest Request, bool Attention) Parse(ReadOnlySpan<byte> body, int maxCandidates)
    {
        JsonDocument doc;
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 16 });
        try { doc = JsonDocument.ParseValue(ref reader); }
        catch (JsonException e)
        {
            throw new RequestException("", $"the body is not valid JSON: {e.Message.Split('\n')[0].Split(" Path:")[0]} (line {(e.LineNumber ?? 0) + 1}, byte {(e.BytePositionInLine ?? 0) + 1})");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new RequestException("", $"the body must be a JSON object, got {Kind(root)}");
            foreach (var p in root.EnumerateObject())
                if (!TopLevel.Contains(p.Name))
                    throw new RequestException(p.Name, $"unknown field '{p.Name}'; the fields are {string.Join(", ", TopLevel)}");

            string? user = root.TryGetProperty("user", out var u) && u.ValueKind != JsonValueKind.Null ? Id(u, "user") : null;

            Dictionary<string, string>? profile = null;
            if (root.TryGetProperty("profile", out var pr) && pr.ValueKind != JsonValueKind.Null)
            {
                if (pr.ValueKind != JsonValueKind.Object) throw new RequestException("profile", $"profile must be an object of field: value, got {Kind(pr)}");
                profile = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var f in pr.EnumerateObject()) profile[f.Name] = Id(f.Value, $"profile.{f.Name}");
            }

            var history = new List<Behaviour>();
            if (root.TryGetProperty("history", out var h) && h.ValueKind != JsonValueKind.Null)
            {
                if (h.ValueKind != JsonValueKind.Array) throw new RequestException("history", $"history must be an array of item ids or {{\"item\": id, \"time\": seconds}}, got {Kind(h)}");
                int i = 0;
                foreach (var b in h.EnumerateArray())
                {
                    string where = $"history[{i++}]";
                    if (b.ValueKind == JsonValueKind.Object)
                    {
                        string? item = null; long? time = null;
                        foreach (var f in b.EnumerateObject())
                        {
                            if (f.Name == "item") item = Id(f.Value, where + ".item");
                            else if (f.Name == "time")
                            {
                                if (f.Value.ValueKind == JsonValueKind.Null) continue;
                                if (f.Value.ValueKind != JsonValueKind.Number || !f.Value.TryGetInt64(out var t) || t < 0)
                                    throw new RequestException(where + ".time", $"{where}.time must be a non-negative integer (Unix seconds), got {Text(f.Value)}");
                                time = t;
                            }
                            else throw new RequestException($"{where}.{f.Name}", $"unknown field '{f.Name}' in {where}; a behaviour has item and time");
                        }
                        history.Add(new Behaviour(item ?? throw new RequestException(where + ".item", $"{where}.item is missing"), time));
                    }
                    else history.Add(new Behaviour(Id(b, where)));
                }
            }

            if (!root.TryGetProperty("candidates", out var c) || c.ValueKind == JsonValueKind.Null)
                throw new RequestException("candidates", "candidates is missing: give the item ids to rank");
            if (c.ValueKind != JsonValueKind.Array) throw new RequestException("candidates", $"candidates must be an array of item ids, got {Kind(c)}");
            int count = c.GetArrayLength();
            if (count == 0) throw new RequestException("candidates", "candidates is empty: give at least one item id to rank");
            if (count > maxCandidates) throw new RequestException("candidates", $"candidates has {count} items; this server ranks at most {maxCandidates} per request");
            var candidates = new List<string>(count);
            int j = 0;
            foreach (var x in c.EnumerateArray()) candidates.Add(Id(x, $"candidates[{j++}]"));

            bool attention = false;
            if (root.TryGetProperty("attention", out var a) && a.ValueKind != JsonValueKind.Null)
            {
                if (a.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw new RequestException("attention", $"attention must be true or false, got {Text(a)}");
                attention = a.GetBoolean();
            }
            return (new RankRequest { User = user, Profile = profile, History = history, Candidates = candidates }, attention);
        }
    }

    /// <summary>A raw id or value: a JSON string as it is, an integer as written (1.5 and objects are refused).</summary>
    private static string Id(JsonElement e, string field) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString()!.Length > 0 ? e.GetString()! : throw new RequestException(field, $"{field} is an empty string"),
        JsonValueKind.Number when e.TryGetInt64(out var v) => v.ToString(CultureInfo.InvariantCulture),
        _ => throw new RequestException(field, $"{field} must be a string or an integer id, got {Text(e)}"),
    };

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object", JsonValueKind.Array => "an array", JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number", JsonValueKind.True or JsonValueKind.False => "a boolean", _ => "null",
    };

    private static string Text(JsonElement e)
    {
        var raw = e.GetRawText();
        return raw.Length > 40 ? raw[..40] + "…" : raw;
    }
}
