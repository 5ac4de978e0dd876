using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Microsoft.Extensions.Options;

namespace Maas.Server.WebConsole;

/// <summary>The web console (static files at / and /ui/) and the metrics history its charts read.</summary>
public static class ConsoleExtensions
{
    /// <summary>
    /// The console's Content-Security-Policy: only this origin's scripts, styles and connections, no inline code, no
    /// framing. Images may be blob: and data: URLs (the playground draws uploaded pictures).
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; " +
        "font-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

    /// <summary>Registers the options, the embedded files and the metrics sampler.</summary>
    public static WebApplicationBuilder AddMaasConsole(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ConsoleOptions>().Bind(builder.Configuration.GetSection(ConsoleOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(_ => new ConsoleAssets(typeof(ConsoleExtensions).Assembly));
        builder.Services.AddSingleton<MetricsHistory>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MetricsHistory>());
        return builder;
    }

    /// <summary>Maps GET / (the console's page), GET /ui/{file} (its bundles) and GET /api/v1/metrics/history.</summary>
    public static WebApplication MapMaasConsole(this WebApplication app)
    {
        app.MapGet("/api/v1/metrics/history", HistoryAsync)
            .RequireScope(MaasScopes.Admin, MaasScopes.ModelsRead)
            .WithApiErrors();
        if (!app.Services.GetRequiredService<IOptions<ConsoleOptions>>().Value.Enabled)
        {
            return app;
        }

        var assets = app.Services.GetRequiredService<ConsoleAssets>();
        app.MapMethods("/", ["GET", "HEAD"], (HttpContext context) => Serve(context, assets.Find("index.html"))).WithMetadata(PublicAsset.Instance);
        app.MapMethods("/ui/{**file}", ["GET", "HEAD"], (HttpContext context, string file) => Serve(context, assets.Find("ui/" + file))).WithMetadata(PublicAsset.Instance);
        return app;
    }

    private static IResult Serve(HttpContext context, ConsoleAsset? asset)
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        if (asset is null)
        {
            return ApiErrors.Result(StatusCodes.Status404NotFound, "file_not_found",
                "no such console file (the console is built by `dotnet build` of src/Maas.Server, which needs npm)");
        }

        // Hashed bundles never change under their name; the page itself is checked every time so a new build shows at once.
        headers.CacheControl = asset.Immutable ? "public, max-age=31536000, immutable" : "no-cache";
        headers.ETag = asset.ETag;
        if (context.Request.Headers.IfNoneMatch.ToString() is { Length: > 0 } match && match.Split(',').Any(m => m.Trim() == asset.ETag))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(asset.Content, asset.ContentType);
    }

    private static async Task<IResult> HistoryAsync(HttpContext context, MetricsHistory history, ModelDirectory directory)
    {
        var caller = context.GetCaller()!;
        var admin = caller.IsAdmin;
        var points = history.Points();
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var point in points)
        {
            names.UnionWith(point.Models.Keys);
        }

        var models = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            // Another tenant's model names and traffic are not this caller's business.
            if (!admin && (await directory.CheckKeyAsync(caller, name, false, context.RequestAborted)).Result != ModelAccessResult.Allowed)
            {
                continue;
            }

            models[name] = Columns(points.Select(p => p.Models.GetValueOrDefault(name)).ToList(), false);
        }

        return Results.Json(
            new
            {
                metrics_enabled = history.Enabled,
                interval_seconds = history.IntervalSeconds,
                history_seconds = history.HistorySeconds,
                times = points.Select(p => p.At.ToUnixTimeMilliseconds()).ToArray(),
                server = admin ? Columns(points.Select(p => (MetricsStats?)p.Server).ToList(), true) : null,
                models,
            },
            RegistryJson.Options);
    }

    // One array per series, aligned with "times"; null where the model had no series in that interval.
    private static Dictionary<string, double?[]> Columns(List<MetricsStats?> stats, bool server)
    {
        static double? Round(double? v) => v is { } x && double.IsFinite(x) ? Math.Round(x, 4) : null;
        var columns = new Dictionary<string, double?[]>(StringComparer.Ordinal)
        {
            ["requests_per_second"] = stats.Select(s => Round(s?.RequestsPerSecond)).ToArray(),
            ["latency_p50_ms"] = stats.Select(s => Round(s?.LatencyP50Ms)).ToArray(),
            ["latency_p95_ms"] = stats.Select(s => Round(s?.LatencyP95Ms)).ToArray(),
            ["latency_p99_ms"] = stats.Select(s => Round(s?.LatencyP99Ms)).ToArray(),
            ["tokens_per_second"] = stats.Select(s => Round(s?.TokensPerSecond)).ToArray(),
            ["queue_depth"] = stats.Select(s => Round(s?.QueueDepth)).ToArray(),
            [server ? "loaded_models" : "instances"] = stats.Select(s => Round(s?.Loaded)).ToArray(),

            // The server's working set; a model's accounted memory (what the memory budget charges for it).
            ["memory_bytes"] = stats.Select(s => Round(s?.MemoryBytes)).ToArray(),
        };
        return columns;
    }
}
