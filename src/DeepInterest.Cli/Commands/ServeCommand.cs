using System.CommandLine;
using DeepInterest.Serving;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace DeepInterest.Cli.Commands;

/// <summary><c>serve --model DIR [--port 8080]</c>: the HTTP ranking server (docs/serving.md).</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder (DIR/model from train); /admin/reload loads it again", Required = true };
        var host = new Option<string>("--host") { Description = "Address to listen on (0.0.0.0 for every interface)", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port", DefaultValueFactory = _ => 8080 };
        var maxCandidates = new Option<int>("--max-candidates") { Description = "Most candidates one request may rank", DefaultValueFactory = _ => 1000 };
        var maxBody = new Option<long>("--max-body-bytes") { Description = "Largest request body accepted", DefaultValueFactory = _ => 1 << 20 };
        var adminAnywhere = new Option<bool>("--admin-anywhere") { Description = "Accept /admin/reload from any address (default: loopback only)" };
        var logRequests = new Option<bool>("--log-requests") { Description = "One log line per request" };
        var threads = new Option<int>("--threads") { Description = "Worker threads of one request's kernels (0 = all cores; 1 lets concurrent requests each take a core, docs/serving.md)", DefaultValueFactory = _ => 0 };
        var cmd = new Command("serve", "Serve a model over HTTP: POST /v1/rank, GET /v1/model, /healthz, /readyz, /metrics, a page at /") { model, host, port, maxCandidates, maxBody, adminAnywhere, logRequests, threads };
        cmd.SetAction(p =>
        {
            var options = new ServeOptions
            {
                ModelDirectory = p.GetValue(model)!, Host = p.GetValue(host)!, Port = p.GetValue(port), MaxCandidates = p.GetValue(maxCandidates),
                MaxBodyBytes = p.GetValue(maxBody), AdminFromAnywhere = p.GetValue(adminAnywhere), LogRequests = p.GetValue(logRequests),
            }.Validate();
            int t = p.GetValue(threads);
            if (t < 0) throw new ArgumentException($"--threads must be ≥ 0, got {t}.");
            if (t > 0) DeepInterest.Engine.Kernels.Par.Threads = t;
            var app = ServingApp.Build(options);
            app.Lifetime.ApplicationStarted.Register(() =>
            {
                var urls = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
                Console.WriteLine($"serving {options.ModelDirectory} on {string.Join(", ", urls)} (POST /v1/rank, GET /v1/model, /metrics, the page at /; Ctrl+C or SIGTERM stops)");
            });
            app.Run();
            return 0;
        });
        return cmd;
    }
}
