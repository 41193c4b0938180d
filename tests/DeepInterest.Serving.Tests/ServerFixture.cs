using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using DeepInterest.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace DeepInterest.Serving.Tests;

/// <summary>The serving tests share one fixture (the models train once) and run one class at a time.</summary>
[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}

/// <summary>
/// A small behaviour log (users with 4 favourite categories, clicks with times), DIN, DIEN and DSIN
/// trained on it through the real CLI (`deepinterest train`, protocol behaviour_log), and a real
/// server on a loopback port for each model.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "di-serve-" + Guid.NewGuid().ToString("N"));
    public Dictionary<string, string> Models { get; } = new();
    private readonly Dictionary<string, (WebApplication App, HttpClient Client)> _servers = new();
    public const int MaxCandidates = 50;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Dir);
        var log = Path.Combine(Dir, "clicks.csv");
        WriteLog(log);
        foreach (var (name, model, extra) in new[]
        {
            ("din", "kind: din\n  attention_hidden: [8]\n", ""),
            ("dien", "kind: dien\n  attention_hidden: [8]\n  aux_hidden: [8]\n", "  negative_history: true\n"),
            ("dsin", "kind: dsin\n  attention_hidden: [8]\n", "  max_sessions: 4\n  session_length: 5\n  session_gap_seconds: 1800\n"),
        })
        {
            var cfg = Path.Combine(Dir, name + ".yaml");
            File.WriteAllText(cfg, $"data:\n  protocol: behaviour_log\n  log: {log}\n  user_column: user\n  item_column: item\n  time_column: time\n  category_column: category\n  max_history: 12\n  embedding_dim: 4\n{extra}" +
                $"model:\n  {model}  mlp_hidden: [16]\ntrain:\n  epochs: 1\n  batch_size: 128\n  seed: 3\n");
            var outDir = Path.Combine(Dir, name);
            var err = new StringWriter();
            var old = Console.Error;
            Console.SetError(err);
            int code;
            try { code = DeepInterest.Cli.Program.Main(["train", "--config", cfg, "--out", outDir]); }
            finally { Console.SetError(old); }
            if (code != 0) throw new InvalidOperationException($"training {name} failed: {err}");
            Models[name] = Path.Combine(outDir, "model");
        }
        await Task.CompletedTask;
    }

    /// <summary>300 users, 120 items in 12 categories; each user clicks items of 4 categories, 8–40 clicks, a gap of an hour every 6 clicks.</summary>
    private static void WriteLog(string path)
    {
        var rng = new Random(5);
        var sb = new StringBuilder("user,item,category,time\n");
        for (int u = 1; u <= 300; u++)
        {
            var cats = Enumerable.Range(0, 12).OrderBy(_ => rng.Next()).Take(4).ToArray();
            long t = 1_600_000_000 + u * 10_000L;
            int n = 8 + rng.Next(33);
            for (int k = 0; k < n; k++)
            {
                int c = cats[rng.Next(4)], item = c * 10 + rng.Next(10);
                t += k % 6 == 5 ? 3600 : 60 + rng.Next(120);
                sb.Append(CultureInfo.InvariantCulture, $"u{u},i{item},c{c},{t}\n");
            }
        }
        File.WriteAllText(path, sb.ToString());
    }

    /// <summary>A running server for <paramref name="model"/> and a client for it (started on first use).</summary>
    public async Task<(WebApplication App, HttpClient Client)> Server(string model, ServeOptions? options = null)
    {
        lock (_servers) if (options is null && _servers.TryGetValue(model, out var s)) return s;
        var o = options ?? new ServeOptions { ModelDirectory = Models[model], Port = 0, MaxCandidates = MaxCandidates, MaxBodyBytes = 64 * 1024 };
        var app = ServingApp.Build(o);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var client = new HttpClient { BaseAddress = new Uri(address) };
        if (options is null) lock (_servers) _servers[model] = (app, client);
        return (app, client);
    }

    public async Task DisposeAsync()
    {
        foreach (var (app, client) in _servers.Values) { client.Dispose(); await app.StopAsync(); await app.DisposeAsync(); }
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}
