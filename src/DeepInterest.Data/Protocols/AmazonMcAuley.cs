using System.IO.Compression;
using System.Text;
using System.Text.Json;
using DeepInterest.Data.Readers;
using DeepInterest.Data.Serving;

namespace DeepInterest.Data.Protocols;

/// <summary>
/// J. McAuley's Amazon product data (2014), the DIN and DIEN papers' Amazon datasets:
/// <c>reviews_{Category}_5.json</c> (one JSON review per line: reviewerID, asin, unixReviewTime, …)
/// and <c>meta_{Category}.json</c> (one Python-literal dict per line: asin, categories, …), plain or
/// gzipped. As in the DIN authors' preprocessing, an item's category is the last entry of its last
/// category path (<c>categories[-1][-1]</c>), items are kept only when they have reviews, and users,
/// items and categories are numbered in the ordinal order of their raw strings. Each user's reviews,
/// sorted by time (ties keep file order), become the behaviour sequence that
/// <see cref="DinProtocol.Build"/> turns into samples. With the full Electronics files this gives
/// 192,403 users, 63,001 items and 801 categories.
/// </summary>
public static class AmazonMcAuley
{
    public sealed record Log(List<int[]?> Sequences, int[] CategoryOf, List<long[]?> Times, string[] Users, string[] Items, string[] Categories, int Reviews)
    {
        /// <summary>The raw strings of the ids (reviewerID, asin, category), index = id, for <see cref="DinProtocol.Build"/>'s serving spec.</summary>
        public RawIds Raw => new("amazon_din", [null, .. Users], [null, .. Items], [null, .. Categories]);
    }

    private static StreamReader Open(string path)
    {
        if (!File.Exists(path)) throw new DataFormatException($"{path}: file not found");
        Stream s = File.OpenRead(path);
        if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) s = new GZipStream(s, CompressionMode.Decompress);
        return new StreamReader(s, Encoding.UTF8, false, 1 << 16);
    }

    /// <summary>(reviewer, asin, time) of every review, in file order.</summary>
    public static List<(string User, string Item, long Time)> ReadReviews(string path)
    {
        var list = new List<(string, string, long)>();
        using var r = Open(path);
        int line = 0;
        while (r.ReadLine() is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            string? user = null, item = null;
            long? time = null;
            try
            {
                using var doc = JsonDocument.Parse(text);
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new DataFormatException($"{path}:{line}:1: expected a JSON object per line");
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    if (p.Name == "reviewerID") user = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : throw Bad(line, "reviewerID", "a string");
                    else if (p.Name == "asin") item = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : throw Bad(line, "asin", "a string");
                    else if (p.Name == "unixReviewTime") time = p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt64(out long t) ? t : throw Bad(line, "unixReviewTime", "an integer time");
                }
            }
            catch (JsonException e) { throw new DataFormatException($"{path}:{line}:{(e.BytePositionInLine ?? 0) + 1}: not valid JSON ({e.Message.Split('.')[0]})"); }
            if (string.IsNullOrEmpty(user)) throw Bad(line, "reviewerID", "a reviewer id");
            if (string.IsNullOrEmpty(item)) throw Bad(line, "asin", "an asin");
            if (time is null) throw Bad(line, "unixReviewTime", "an integer time");
            list.Add((user, item, time.Value));
        }
        if (list.Count == 0) throw new DataFormatException($"{path}: no reviews (the file is empty)");
        return list;

        DataFormatException Bad(int line, string key, string expected) => new($"{path}:{line}: '{key}' expected {expected}");
    }

    /// <summary>asin → category (the last entry of the last category path) for the items in <paramref name="only"/>.</summary>
    public static Dictionary<string, string> ReadCategories(string path, IReadOnlySet<string>? only = null)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        using var r = Open(path);
        int line = 0;
        while (r.ReadLine() is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            object? v;
            try { v = PythonLiteral.Parse(text); }
            catch (FormatException e) { throw new DataFormatException($"{path}:{line}: expected a Python dict literal ({e.Message})"); }
            if (v is not Dictionary<string, object?> d || d.GetValueOrDefault("asin") is not string asin)
                throw new DataFormatException($"{path}:{line}: 'asin' expected a dict with an 'asin' string");
            if (only is not null && !only.Contains(asin)) continue;
            if (d.GetValueOrDefault("categories") is List<object?> { Count: > 0 } paths && paths[^1] is List<object?> { Count: > 0 } last && last[^1] is string cat)
                map[asin] = cat;
        }
        return map;
    }

    /// <summary>
    /// Reads both files into per-user sequences. Items missing from the metadata (or
    /// <paramref name="metaPath"/> null) get the category "(none)".
    /// </summary>
    public static Log Read(string reviewsPath, string? metaPath)
    {
        var reviews = ReadReviews(reviewsPath);
        var itemSet = reviews.Select(x => x.Item).ToHashSet(StringComparer.Ordinal);
        var cats = metaPath is null ? new Dictionary<string, string>() : ReadCategories(metaPath, itemSet);
        string[] users = reviews.Select(x => x.User).Distinct().Order(StringComparer.Ordinal).ToArray();
        string[] items = itemSet.Order(StringComparer.Ordinal).ToArray();
        string[] categories = items.Select(i => cats.GetValueOrDefault(i, "(none)")).Distinct().Order(StringComparer.Ordinal).ToArray();
        var userId = users.Select((u, i) => (u, i + 1)).ToDictionary(x => x.u, x => x.Item2, StringComparer.Ordinal);
        var itemId = items.Select((u, i) => (u, i + 1)).ToDictionary(x => x.u, x => x.Item2, StringComparer.Ordinal);
        var cateId = categories.Select((u, i) => (u, i + 1)).ToDictionary(x => x.u, x => x.Item2, StringComparer.Ordinal);
        var categoryOf = new int[items.Length + 1];
        foreach (var (item, id) in itemId) categoryOf[id] = cateId[cats.GetValueOrDefault(item, "(none)")];
        var (seqs, times) = DinProtocol.Sequences(reviews.Select(r => (userId[r.User], itemId[r.Item], r.Time, r.Time)), users.Length);
        return new Log(seqs, categoryOf, times, users, items, categories, reviews.Count);
    }
}
