using System.Text.Json;
using System.Text.Json.Nodes;
using DeepInterest.Models.Serving;

namespace DeepInterest.Serving;

/// <summary>The page at <c>GET /</c> (one HTML file, no build step, nothing fetched from outside) and the example requests it offers.</summary>
internal static class Page
{
    /// <summary>The file beside the model with example requests (raw ids of a few test users), written by <c>train</c>.</summary>
    public const string ExamplesFile = Models.Serving.ExampleRequests.FileName;

    public static string Html { get; } = Load();

    private static string Load()
    {
        using var s = typeof(Page).Assembly.GetManifestResourceStream("DeepInterest.Serving.Page.index.html")
            ?? throw new InvalidOperationException("the page is missing from the assembly");
        return new StreamReader(s).ReadToEnd();
    }

    /// <summary>The model folder's example requests with item names where the data has them; an empty list when it has none.</summary>
    public static JsonNode Examples(Ranker ranker)
    {
        var path = Path.Combine(ranker.Scorer.Directory, ExamplesFile);
        if (!File.Exists(path)) return new JsonArray();
        var examples = JsonNode.Parse(File.ReadAllText(path)) as JsonArray ?? new JsonArray();
        var names = new JsonObject();
        foreach (var e in examples)
        {
            foreach (var c in e?["candidates"]?.AsArray() ?? []) AddName(ranker, names, c);
            foreach (var h in e?["history"]?.AsArray() ?? []) AddName(ranker, names, h is JsonObject o ? o["item"] : h);
        }
        return new JsonObject { ["examples"] = examples.DeepClone(), ["names"] = names };
    }

    private static void AddName(Ranker ranker, JsonObject names, JsonNode? id)
    {
        var raw = id?.ToString();
        if (raw is null || names.ContainsKey(raw)) return;
        if (ranker.Spec.ItemName(raw) is { } name) names[raw] = name;
    }
}
