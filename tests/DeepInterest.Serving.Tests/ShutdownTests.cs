using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;

namespace DeepInterest.Serving.Tests;

/// <summary>`deepinterest serve` as a process: SIGTERM lets requests in flight finish, then it exits 0.</summary>
[Collection(ServerCollection.Name)]
public class ShutdownTests(ServerFixture f)
{
    [Fact]
    public async Task SigtermFinishesRequestsInFlightAndExitsCleanly()
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "deepinterest.dll");
        var psi = new ProcessStartInfo("dotnet") { ArgumentList = { cli, "serve", "--model", f.Models["din"], "--port", "0" }, RedirectStandardOutput = true, RedirectStandardError = true };
        using var server = Process.Start(psi)!;
        string? url = null;
        using var startup = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (url is null && !startup.IsCancellationRequested)
        {
            string? line;
            try { line = await server.StandardOutput.ReadLineAsync(startup.Token); }
            catch (OperationCanceledException) { break; }
            if (line is null) break;
            var m = System.Text.RegularExpressions.Regex.Match(line, @"on (http://[0-9.:]+)");
            if (m.Success) url = m.Groups[1].Value;
        }
        if (url is null)
        {
            server.Kill(true);
            Assert.Fail("the server did not print its address within 60 s: " + await server.StandardError.ReadToEndAsync());
        }
        _ = server.StandardOutput.ReadToEndAsync();
        var stderr = server.StandardError.ReadToEndAsync();

        var body = new JsonObject
        {
            ["user"] = "u3", ["history"] = new JsonArray(Enumerable.Range(0, 12).Select(i => (JsonNode)JsonValue.Create($"i{i * 3}")!).ToArray()),
            ["candidates"] = new JsonArray(Enumerable.Range(0, 200).Select(i => (JsonNode)JsonValue.Create($"i{i % 120}")!).ToArray()),
        }.ToJsonString();
        using var client = new HttpClient { BaseAddress = new Uri(url!), Timeout = TimeSpan.FromSeconds(30) };
        long sigterm = long.MaxValue;
        var statuses = new System.Collections.Concurrent.ConcurrentBag<(HttpStatusCode Status, long SentAt, long ReceivedAt)>();
        var load = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (int i = 0; i < 2000 && Interlocked.Read(ref sigterm) == long.MaxValue; i++)
            {
                long sent = Stopwatch.GetTimestamp();
                try
                {
                    using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
                    using var r = await client.PostAsync("/v1/rank", content);
                    statuses.Add((r.StatusCode, sent, Stopwatch.GetTimestamp()));
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            }
        })).ToArray();
        await Task.Delay(1500);
        Interlocked.Exchange(ref sigterm, Stopwatch.GetTimestamp());
        using (var kill = Process.Start("kill", ["-TERM", server.Id.ToString()])) kill.WaitForExit();
        await Task.WhenAll(load);
        Assert.True(server.WaitForExit(30_000), "the server did not exit within 30 s of SIGTERM");
        Assert.True(server.ExitCode == 0, $"exit code {server.ExitCode}: {await stderr}");
        // Every answer is a complete 200 (none cut off, none 5xx), and requests in flight when SIGTERM was
        // sent were answered after it: the server finished them before it stopped. (A request sent on a
        // keep-alive connection the server was closing may fail to connect; that is not an answer.)
        Assert.NotEmpty(statuses);
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s.Status));
        long at = Interlocked.Read(ref sigterm);
        Assert.Contains(statuses, s => s.SentAt < at && s.ReceivedAt > at);
    }
}
