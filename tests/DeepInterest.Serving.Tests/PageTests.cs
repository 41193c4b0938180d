using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;

namespace DeepInterest.Serving.Tests;

/// <summary>The page at / in a real browser (Debian's chromium, headless), and the example requests it offers.</summary>
[Collection(ServerCollection.Name)]
public class PageTests(ServerFixture f)
{
    [Theory]
    [InlineData("din")]
    [InlineData("dsin")]
    public async Task EveryExampleShippedWithTheModelRanks(string model)
    {
        var (_, client) = await f.Server(model);
        var json = JsonNode.Parse(await client.GetStringAsync("/v1/examples"))!;
        var examples = json["examples"]!.AsArray();
        Assert.InRange(examples.Count, 5, 20);
        foreach (var e in examples)
        {
            Assert.Equal(20, e!["candidates"]!.AsArray().Count);
            using var content = new StringContent(e.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
            using var r = await client.PostAsync("/v1/rank", content);
            Assert.True(r.StatusCode == HttpStatusCode.OK, await r.Content.ReadAsStringAsync());
        }
    }

    private static string? Chromium() => new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);

    [SkippableFact]
    public async Task ThePageRanksTheFirstExampleInABrowser()
    {
        var chromium = Chromium();
        Skip.If(chromium is null, "chromium is not installed (apt-get install chromium; .ci/run installs it)");
        var (_, client) = await f.Server("din");
        var first = JsonNode.Parse(await client.GetStringAsync("/v1/examples"))!["examples"]![0]!;
        var psi = new ProcessStartInfo(chromium!)
        {
            ArgumentList = { "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + Path.Combine(f.Dir, "chromium-" + Guid.NewGuid().ToString("N")),
                             "--virtual-time-budget=15000", "--dump-dom", client.BaseAddress!.ToString() },
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        var dom = await p.StandardOutput.ReadToEndAsync();
        var exited = p.WaitForExit(60_000);
        if (!exited) p.Kill(true);
        Assert.True(exited, "chromium did not finish within 60 s");
        // The ranked table: one row per candidate of the first example, each with its probability, and the attention strip of the top one.
        var rows = System.Text.RegularExpressions.Regex.Matches(dom, "<tr data-item=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.True(rows.Count == 20, $"expected 20 ranked rows in the rendered page, got {rows.Count}: {dom[..Math.Min(dom.Length, 2000)]}");
        Assert.Equal(first["candidates"]!.AsArray().Select(c => c!.GetValue<string>()).Order(), rows.Order());
        Assert.Contains("class=\"chosen\"", dom);
        Assert.Contains("class=\"cell\"", dom);
        Assert.Contains("din · ", dom);
    }
}
