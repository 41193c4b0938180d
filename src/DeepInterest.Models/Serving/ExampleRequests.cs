using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using DeepInterest.Data.Batches;
using DeepInterest.Data.Serving;

namespace DeepInterest.Models.Serving;

/// <summary>
/// Example requests of raw values taken from held-out rows, saved beside a model (<see cref="FileName"/>)
/// so that a person can try the served model at once (the server's page offers them).
/// </summary>
public static class ExampleRequests
{
    public const string FileName = "examples.json";

    /// <summary>
    /// Up to <paramref name="count"/> requests, one per user of <paramref name="data"/> in row order:
    /// the raw user id and profile fields, the history as raw item ids (oldest first; a session model's
    /// behaviours come from its sessions, with times one minute apart inside a session and a gap
    /// longer than the session rule's between them, so the server cuts the same sessions), and as
    /// candidates the user's own targets in the data followed by the data's most frequent targets,
    /// <paramref name="candidates"/> in all.
    /// </summary>
    public static JsonArray Build(ServingSpec spec, CtrDataset data, int count = 20, int candidates = 20)
    {
        var examples = new JsonArray();
        var userRule = spec.Features.FirstOrDefault(x => x.Source == FeatureSource.User);
        var candidateFeature = spec.Features.FirstOrDefault(r => r.Source == FeatureSource.Candidate && r.Attribute is null)?.Feature;
        if (candidateFeature is null || !data.Sparse.TryGetValue(candidateFeature, out var targets)) return examples;
        var popular = targets.GroupBy(t => t).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).Select(g => g.Key).Take(candidates).ToList();
        var seen = new HashSet<int>();
        for (int r = 0; r < data.Count && examples.Count < count; r++)
        {
            if (!seen.Add(data.UserIds[r])) continue;
            var e = new JsonObject();
            if (userRule is not null) e["user"] = spec.RawValue(userRule.Feature, data.Sparse[userRule.Feature][r]);
            var profile = new JsonObject();
            foreach (var rule in spec.Features.Where(x => x.Source == FeatureSource.Profile))
            {
                if (data.Sparse.TryGetValue(rule.Feature, out var col)) profile[rule.Field!] = spec.RawValue(rule.Feature, col[r]);
                else if (data.Dense.TryGetValue(rule.Feature, out var dense) && rule.Numeric is { } n && spec.Numeric[n] is { Length: > 0 } sorted)
                    profile[rule.Field!] = sorted[(int)Math.Round(dense[r] * (sorted.Length - 1))].ToString(CultureInfo.InvariantCulture);   // the quantile transform, inverted
            }
            if (profile.Count > 0) e["profile"] = profile;
            e["history"] = History(spec, data, r);
            var own = Enumerable.Range(r, data.Count - r).Where(i => data.UserIds[i] == data.UserIds[r]).Select(i => targets[i]);
            e["candidates"] = new JsonArray(own.Concat(popular).Distinct().Take(candidates).Select(id => (JsonNode)JsonValue.Create(spec.RawItem(id))!).ToArray());
            examples.Add(e);
        }
        return examples;
    }

    private static JsonArray History(ServingSpec spec, CtrDataset data, int r)
    {
        var history = new JsonArray();
        var sessions = spec.Features.FirstOrDefault(x => x.Source == FeatureSource.Sessions && x.Attribute is null);
        if (sessions is not null && spec.Sessions is { } rule && data.Sessions.TryGetValue(sessions.Feature, out var col))
        {
            long time = 1_600_000_000;
            for (int s = 0; s < col.MaxSessions; s++)
            {
                var items = col.Session(r, s);
                if (items.Length == 0) continue;
                time += rule.GapSeconds + 60;
                foreach (var id in items) { history.Add(new JsonObject { ["item"] = spec.RawItem(id), ["time"] = time }); time += 60; }
            }
            return history;
        }
        var flat = spec.Features.FirstOrDefault(x => x.Source == FeatureSource.History && x.Attribute is null);
        if (flat is not null && data.Sequences.TryGetValue(flat.Feature, out var seq))
            foreach (var id in seq.Row(r)) history.Add(spec.RawItem(id));
        return history;
    }

    /// <summary>Writes the examples as JSON (temporary file, then rename).</summary>
    public static void Save(string path, JsonArray examples) =>
        Engine.IO.AtomicFile.WriteAllText(path, examples.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
}
