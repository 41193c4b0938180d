using System.Diagnostics;
using System.Net;
using System.Text.Json;
using DeepInterest.Data.Serving;
using DeepInterest.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace DeepInterest.Serving;

/// <summary>
/// The HTTP server of <c>deepinterest serve</c>: ASP.NET Core minimal APIs on Kestrel.
/// <list type="bullet">
/// <item><c>POST /v1/rank</c>: one user's raw history and candidates → probabilities and ranking (<see cref="RankRequestBody"/>).</item>
/// <item><c>GET /v1/model</c>: kind, options, features, training metrics, format version, load time, version.</item>
/// <item><c>GET /healthz</c> (the process answers), <c>GET /readyz</c> (a model is loaded).</item>
/// <item><c>GET /metrics</c>: Prometheus text (requests by endpoint and status, latency, candidates, model version).</item>
/// <item><c>GET /openapi/v1.json</c>: the OpenAPI document.</item>
/// <item><c>POST /admin/reload</c>: load the folder again and swap it in atomically (loopback only unless allowed).</item>
/// <item><c>GET /</c>: a page to try the model in a browser.</item>
/// </list>
/// A client's mistake is a 4xx with <see cref="ErrorBody"/>; the server never answers 500 for it and stays up.
/// </summary>
public static class ServingApp
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Builds the app (the model is loaded before it starts listening; a folder that cannot load is a one-line error).</summary>
    public static WebApplication Build(ServeOptions options, Action<ILoggingBuilder>? logging = null)
    {
        options.Validate();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.SetMinimumLevel(options.LogRequests ? LogLevel.Debug : LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        logging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Parse(options.Host == "localhost" ? "127.0.0.1" : options.Host), options.Port);
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            k.AddServerHeader = false;
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        builder.Services.AddOpenApi();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(sp => new ModelHost(options.ModelDirectory, sp.GetRequiredService<ILogger<ModelHost>>()));
        builder.Services.AddSingleton<ServingMetrics>();
        var app = builder.Build();

        var host = app.Services.GetRequiredService<ModelHost>();
        var (ok, message, _) = host.Reload();
        if (!ok) throw new ModelFormatException(message);
        var metrics = app.Services.GetRequiredService<ServingMetrics>();
        metrics.ModelLoaded(host.Current!);
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("DeepInterest.Serving");

        app.Use(async (ctx, next) =>
        {
            long start = Stopwatch.GetTimestamp();
            try { await next(ctx); }
            catch (BadHttpRequestException e)
            {
                // Kestrel's own refusals (a body over the size cap, a malformed request) as JSON errors.
                if (!ctx.Response.HasStarted) await WriteError(ctx, e.StatusCode, e.StatusCode == 413 ? $"the body is larger than this server's limit of {options.MaxBodyBytes} bytes" : e.Message, null);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "{Method} {Path} failed", ctx.Request.Method, ctx.Request.Path);
                if (!ctx.Response.HasStarted) await WriteError(ctx, 500, "internal error: " + e.Message.Split('\n')[0], null);
            }
            finally
            {
                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                var endpoint = (ctx.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
                metrics.Request(endpoint, ctx.Response.StatusCode, seconds);
                if (options.LogRequests) log.LogDebug("{Method} {Path} {Status} {Ms:F2} ms", ctx.Request.Method, ctx.Request.Path, ctx.Response.StatusCode, seconds * 1e3);
            }
        });

        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapMetrics("/metrics", metrics.Registry);
        app.MapGet("/healthz", () => Results.Json(new { status = "ok" }));
        app.MapGet("/readyz", () => host.Current is { } m
            ? Results.Json(new { status = "ready", kind = m.Ranker.Model.Kind, version = m.Version })
            : Results.Json(new ErrorBody("no model loaded", null), statusCode: 503));

        app.MapPost("/v1/rank", async (HttpContext ctx) =>
        {
            var model = host.Current!;                                   // this request finishes on this model, even if a reload swaps it
            if (ctx.Request.ContentType is { } type && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
                return Error(415, $"the body must be application/json, got {type}", null);
            byte[] body;
            try { body = await ReadBody(ctx.Request, options.MaxBodyBytes, ctx.RequestAborted); }
            catch (BodyTooLargeException) { return Error(413, $"the body is larger than this server's limit of {options.MaxBodyBytes} bytes", null); }
            try
            {
                var (request, attention) = RequestParser.Parse(body, options.MaxCandidates);
                var result = model.Ranker.Rank(request, attention);
                metrics.Scored(result.Candidates.Count);
                return Results.Json(Response(model, result, request), Json);
            }
            catch (RequestException e) { return Error(400, e.Message, e.Field); }
        })
        // The body is documented by a transformer rather than .Accepts<T>(), which would also make routing
        // refuse other content types with a 404 before the handler can answer 415 naming the problem.
        .AddOpenApiOperationTransformer(async (op, ctx, cancel) =>
        {
            var schema = await ctx.GetOrCreateSchemaAsync(typeof(RankRequestBody), null, cancel);
            op.RequestBody = new Microsoft.OpenApi.OpenApiRequestBody
            {
                Required = true,
                Content = new Dictionary<string, Microsoft.OpenApi.OpenApiMediaType> { ["application/json"] = new() { Schema = schema } },
            };
        })
        .Produces<RankResponseBody>(200)
        .Produces<ErrorBody>(400).Produces<ErrorBody>(413).Produces<ErrorBody>(415)
        .WithName("Rank").WithSummary("Rank one user's candidates from raw ids");

        app.MapGet("/v1/model", () => Results.Json(host.Current!.Description, Json))
            .WithName("Model").WithSummary("The model being served");

        app.MapPost("/admin/reload", (HttpContext ctx) =>
        {
            if (!options.AdminFromAnywhere && ctx.Connection.RemoteIpAddress is { } ip && !IPAddress.IsLoopback(ip))
                return Error(403, "admin endpoints answer loopback clients only (start the server with --admin-anywhere to change that)", null);
            var (reloaded, reason, current) = host.Reload();
            metrics.Reload(reloaded);
            if (!reloaded) return Results.Json(new { error = $"reload refused: {reason}", field = (string?)null, serving_version = current?.Version }, statusCode: 409);
            metrics.ModelLoaded(current!);
            return Results.Json(new { status = "reloaded", kind = current!.Ranker.Model.Kind, version = current.Version, message = reason });
        }).WithName("Reload").WithSummary("Load the model folder again and swap it in");

        app.MapGet("/", () => Results.Content(Page.Html, "text/html; charset=utf-8")).ExcludeFromDescription();
        app.MapGet("/v1/examples", () => Results.Json(host.Current!.Examples, Json)).ExcludeFromDescription();
        app.MapFallback((HttpContext ctx) => Error(404, $"no endpoint {ctx.Request.Method} {ctx.Request.Path}; see /openapi/v1.json", null));
        return app;
    }

    private static IResult Error(int status, string message, string? field) => Results.Json(new ErrorBody(message, string.IsNullOrEmpty(field) ? null : field), statusCode: status);

    private static Task WriteError(HttpContext ctx, int status, string message, string? field)
    {
        ctx.Response.StatusCode = status;
        return ctx.Response.WriteAsJsonAsync(new ErrorBody(message, field));
    }

    private sealed class BodyTooLargeException : Exception;

    /// <summary>The whole body, refusing one longer than <paramref name="max"/> before reading it all.</summary>
    private static async Task<byte[]> ReadBody(HttpRequest request, long max, CancellationToken cancel)
    {
        if (request.ContentLength > max) throw new BodyTooLargeException();
        using var ms = new MemoryStream(request.ContentLength is { } n ? (int)n : 4096);
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(buffer, cancel)) > 0)
        {
            if (ms.Length + read > max) throw new BodyTooLargeException();
            ms.Write(buffer, 0, read);
        }
        return ms.ToArray();
    }

    private static RankResponseBody Response(ModelHost.Loaded model, Models.Serving.RankResult r, RankRequest request)
    {
        var order = r.Order();
        var rank = new int[order.Length];
        for (int i = 0; i < order.Length; i++) rank[order[i]] = i + 1;
        var spec = model.Ranker.Spec;
        var candidates = r.Candidates.Select((c, i) => new CandidateBody(c.Item, c.Probability, rank[i], spec.ItemName(c.Item), c.Attention)).ToList();
        var warnings = new List<string>();
        if (r.HistoryUsed < r.HistoryGiven)
            warnings.Add($"history: {r.HistoryGiven} behaviours given; the model reads the most recent {r.HistoryUsed}");
        return new RankResponseBody(new ModelRef(model.Ranker.Model.Kind, model.Version), candidates, order.Select(i => r.Candidates[i].Item).ToList(),
            new HistoryUse(r.HistoryGiven, r.HistoryUsed, r.HistoryUsed < r.HistoryGiven), new UnknownIds(r.UnknownCandidates, r.UnknownBehaviours), r.AttentionOver, warnings);
    }

    /// <summary>GET /v1/model: what a client needs to know about the model answering (built once per loaded model).</summary>
    internal static object Describe(Models.Serving.Ranker ranker, int version)
    {
        var model = ranker.Model;
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(ranker.Scorer.Directory, "manifest.json")))!;
        return new
        {
            kind = model.Kind,
            summary = Models.Networks.ModelRegistry.For(model.Options).Summary,
            version,
            loaded_at = ranker.LoadedAt,
            directory = ranker.Scorer.Directory,
            format_version = manifest["format_version"]!.GetValue<int>(),
            options = manifest["options"],
            features = manifest["schema"],
            metrics = manifest["metrics"],
            parameters = model.ParameterCount(),
            max_history = ranker.Spec.MaxHistory,
            profile_fields = ranker.Spec.ProfileFields,
        };
    }
}
