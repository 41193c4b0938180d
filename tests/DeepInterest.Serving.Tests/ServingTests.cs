using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DeepInterest.Data.Serving;
using DeepInterest.Models.Serving;

namespace DeepInterest.Serving.Tests;

[Collection(ServerCollection.Name)]
public class ServingTests(ServerFixture f)
{
    private static JsonObject Body(int candidates = 5, int history = 10, bool attention = false, bool times = false)
    {
        var h = new JsonArray();
        long time = 1_700_000_000L;
        for (int k = 0; k < history; k++)
        {
            time += k % 4 == 3 ? 4000 : 90;                                                 // a new session every 4 behaviours
            h.Add(times ? new JsonObject { ["item"] = $"i{(k * 7) % 120}", ["time"] = time } : $"i{(k * 7) % 120}");
        }
        var c = new JsonArray();
        for (int i = 0; i < candidates; i++) c.Add($"i{(i * 13 + 1) % 120}");
        return new JsonObject { ["user"] = "u7", ["history"] = h, ["candidates"] = c, ["attention"] = attention };
    }

    private static async Task<(HttpStatusCode Status, JsonNode Json)> Post(HttpClient client, string path, string body, string type = "application/json", bool expectContinue = false)
    {
        using var content = new StringContent(body, Encoding.UTF8, type);
        // A client that sends a large body asks first (Expect: 100-continue), so a refusal arrives before the upload.
        using var message = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        message.Headers.ExpectContinue = expectContinue;
        using var r = await client.SendAsync(message);
        var text = await r.Content.ReadAsStringAsync();
        return (r.StatusCode, JsonNode.Parse(text)!);
    }

    [Theory]
    [InlineData("din")]
    [InlineData("dien")]
    [InlineData("dsin")]
    public async Task RankAnswersWhatTheLibraryComputes(string model)
    {
        var (_, client) = await f.Server(model);
        var body = Body(candidates: 12, history: 15, attention: true, times: true);
        var (status, json) = await Post(client, "/v1/rank", body.ToJsonString());
        Assert.True(status == HttpStatusCode.OK, json.ToJsonString());
        var ranker = Ranker.Open(f.Models[model]);
        var expected = ranker.Rank(new RankRequest
        {
            User = "u7",
            History = body["history"]!.AsArray().Select(h => new Behaviour(h!["item"]!.GetValue<string>(), h["time"]!.GetValue<long>())).ToList(),
            Candidates = body["candidates"]!.AsArray().Select(c => c!.GetValue<string>()).ToList(),
        }, attention: true);
        var got = json["candidates"]!.AsArray();
        Assert.Equal(12, got.Count);
        for (int i = 0; i < 12; i++)
        {
            Assert.Equal(expected.Candidates[i].Item, got[i]!["item"]!.GetValue<string>());
            Assert.Equal(expected.Candidates[i].Probability, got[i]!["probability"]!.GetValue<float>());
            Assert.Equal(expected.Candidates[i].Attention, got[i]!["attention"]!.AsArray().Select(x => x!.GetValue<float>()).ToArray());
        }
        var ranking = json["ranking"]!.AsArray().Select(x => x!.GetValue<string>()).ToList();
        Assert.Equal(expected.Order().Select(i => expected.Candidates[i].Item), ranking);
        Assert.Equal(1, got.Single(c => c!["item"]!.GetValue<string>() == ranking[0])!["rank"]!.GetValue<int>());
        Assert.Equal(model, json["model"]!["kind"]!.GetValue<string>());
        Assert.Equal(model == "dsin" ? "sessions" : "history", json["attention_over"]!.GetValue<string>());
    }

    [Fact]
    public async Task ALongHistoryKeepsTheMostRecentAndSaysSo()
    {
        var (_, client) = await f.Server("din");
        var (status, json) = await Post(client, "/v1/rank", Body(history: 30).ToJsonString());
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(30, json["history"]!["given"]!.GetValue<int>());
        Assert.Equal(12, json["history"]!["used"]!.GetValue<int>());
        Assert.True(json["history"]!["truncated"]!.GetValue<bool>());
        Assert.Contains("most recent 12", json["warnings"]![0]!.GetValue<string>());
        // The result is the one of the 12 most recent behaviours alone.
        var recent = Body(history: 30);
        recent["history"] = new JsonArray(recent["history"]!.AsArray().Skip(18).Select(x => x!.DeepClone()).ToArray());
        var (_, same) = await Post(client, "/v1/rank", recent.ToJsonString());
        Assert.Equal(json["candidates"]!.ToJsonString(), same["candidates"]!.ToJsonString());
    }

    [Fact]
    public async Task UnknownIdsAreScoredNotRefused()
    {
        var (_, client) = await f.Server("din");
        var body = Body();
        body["candidates"]!.AsArray().Add("never-seen");
        body["history"]!.AsArray().Add(12345);
        body["user"] = "nobody";
        var (status, json) = await Post(client, "/v1/rank", body.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1, json["unknown"]!["candidates"]!.GetValue<int>());
        Assert.Equal(1, json["unknown"]!["behaviours"]!.GetValue<int>());
    }

    public static TheoryData<string, int, string?, string> BadRequests() => new()
    {
        { "{ not json", 400, null, "not valid JSON" },
        { "[1, 2]", 400, null, "must be a JSON object" },
        { """{"history": ["i1"]}""", 400, "candidates", "candidates is missing" },
        { """{"candidates": []}""", 400, "candidates", "empty" },
        { """{"candidates": "i1"}""", 400, "candidates", "must be an array" },
        { """{"candidates": ["i1", 2.5]}""", 400, "candidates[1]", "string or an integer" },
        { """{"candidates": ["i1"], "history": [{"item": "i2", "time": "noon"}]}""", 400, "history[0].time", "non-negative integer" },
        { """{"candidates": ["i1"], "history": [{"time": 5}]}""", 400, "history[0].item", "missing" },
        { """{"candidates": ["i1"], "attention": "yes"}""", 400, "attention", "true or false" },
        { """{"candidates": ["i1"], "hist": []}""", 400, "hist", "unknown field 'hist'" },
        { """{"candidates": ["i1"], "profile": [1]}""", 400, "profile", "must be an object" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadRequestsGetA4xxNamingTheFieldAndTheServerStaysUp(string body, int status, string? field, string message)
    {
        var (_, client) = await f.Server("din");
        var (code, json) = await Post(client, "/v1/rank", body);
        Assert.Equal(status, (int)code);
        Assert.Contains(message, json["error"]!.GetValue<string>());
        Assert.Equal(field, json["field"]?.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public async Task TooManyCandidatesATooLargeBodyAndAWrongContentTypeAreRefused()
    {
        var (_, client) = await f.Server("din");
        var (code, json) = await Post(client, "/v1/rank", Body(candidates: ServerFixture.MaxCandidates + 1).ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal("candidates", json["field"]!.GetValue<string>());
        Assert.Contains($"at most {ServerFixture.MaxCandidates}", json["error"]!.GetValue<string>());

        var big = Body();
        big["history"] = new JsonArray(Enumerable.Range(0, 20_000).Select(i => (JsonNode)JsonValue.Create($"i{i % 120}")!).ToArray());
        (code, json) = await Post(client, "/v1/rank", big.ToJsonString(), expectContinue: true);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, code);
        Assert.Contains("larger than this server's limit", json["error"]!.GetValue<string>());

        (code, json) = await Post(client, "/v1/rank", Body().ToJsonString(), "text/plain");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, code);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/v2/rank")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);
    }

    [Fact]
    public async Task ModelHealthMetricsAndOpenApiDescribeTheServer()
    {
        var (_, client) = await f.Server("din");
        await Post(client, "/v1/rank", Body(candidates: 7).ToJsonString());
        var model = JsonNode.Parse(await client.GetStringAsync("/v1/model"))!;
        Assert.Equal("din", model["kind"]!.GetValue<string>());
        Assert.Equal(2, model["format_version"]!.GetValue<int>());
        Assert.Equal(12, model["max_history"]!.GetValue<int>());
        Assert.NotNull(model["features"]!["tables"]);
        Assert.NotNull(model["metrics"]!["test.auc"]);
        Assert.Equal("ready", JsonNode.Parse(await client.GetStringAsync("/readyz"))!["status"]!.GetValue<string>());
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("deepinterest_requests_total{endpoint=\"/v1/rank\",status=\"200\"}", metrics);
        Assert.Contains("deepinterest_request_duration_seconds_bucket{endpoint=\"/v1/rank\"", metrics);
        Assert.Contains("deepinterest_candidates_scored_total", metrics);
        Assert.Contains("deepinterest_model_version 1", metrics);
        var openapi = JsonNode.Parse(await client.GetStringAsync("/openapi/v1.json"))!;
        Assert.NotNull(openapi["paths"]!["/v1/rank"]!["post"]);
        Assert.Contains("text/html", (await client.GetAsync("/")).Content.Headers.ContentType!.ToString());
    }

    [Fact]
    public async Task ConcurrentRequestsGetTheSequentialAnswers()
    {
        var (_, client) = await f.Server("dien");
        var bodies = Enumerable.Range(0, 16).Select(i => Body(candidates: 3 + i, history: 2 + i % 11).ToJsonString()).ToArray();
        var sequential = new List<string>();
        foreach (var b in bodies) sequential.Add((await Post(client, "/v1/rank", b)).Json["candidates"]!.ToJsonString());
        var tasks = Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
        {
            var answers = new List<(int, string)>();
            for (int round = 0; round < 4; round++)
                for (int i = 0; i < bodies.Length; i++)
                {
                    int k = (i + t * 5) % bodies.Length;
                    var (code, json) = await Post(client, "/v1/rank", bodies[k]);
                    Assert.Equal(HttpStatusCode.OK, code);
                    answers.Add((k, json["candidates"]!.ToJsonString()));
                }
            return answers;
        })).ToArray();
        foreach (var (k, answer) in (await Task.WhenAll(tasks)).SelectMany(a => a)) Assert.Equal(sequential[k], answer);
    }

    [Fact]
    public async Task ReloadSwapsTheModelAndADamagedFolderKeepsTheOldOne()
    {
        var copy = Path.Combine(f.Dir, "reload-model");
        CopyDir(f.Models["din"], copy);
        var (app, client) = await f.Server("din", new ServeOptions { ModelDirectory = copy, Port = 0 });
        try
        {
            var before = (await Post(client, "/v1/rank", Body().ToJsonString())).Json;
            using (var r = await client.PostAsync("/admin/reload", null))
            {
                var j = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
                Assert.Equal(2, j["version"]!.GetValue<int>());
            }
            var manifest = Path.Combine(copy, "manifest.json");
            var good = File.ReadAllText(manifest);
            File.WriteAllText(manifest, "{ damaged");
            using (var r = await client.PostAsync("/admin/reload", null))
            {
                var j = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
                Assert.Equal(HttpStatusCode.Conflict, r.StatusCode);
                Assert.Contains("reload refused", j["error"]!.GetValue<string>());
                Assert.Contains("manifest.json", j["error"]!.GetValue<string>());
                Assert.Equal(2, j["serving_version"]!.GetValue<int>());
            }
            var after = (await Post(client, "/v1/rank", Body().ToJsonString())).Json;
            Assert.Equal(2, after["model"]!["version"]!.GetValue<int>());
            Assert.Equal(before["candidates"]!.ToJsonString(), after["candidates"]!.ToJsonString());
            File.WriteAllText(manifest, good);
            Assert.Contains("deepinterest_reloads_total{result=\"refused\"} 1", await client.GetStringAsync("/metrics"));
        }
        finally { client.Dispose(); await app.StopAsync(); await app.DisposeAsync(); }
    }

    private static void CopyDir(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)), true);
    }
}
