using Maas.Core.Hosting;
using Microsoft.Extensions.Options;

namespace Maas.Server.Health;

/// <summary>Liveness and readiness probes, and the graceful drain on shutdown.</summary>
public static class HealthEndpoints
{
    /// <summary>Registers shutdown options and the drain that keeps the listener open while readiness is false.</summary>
    public static WebApplicationBuilder AddMaasHealth(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ShutdownOptions>()
            .Bind(builder.Configuration.GetSection(ShutdownOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<HostOptions>().Configure<IOptions<ShutdownOptions>>((host, shutdown) =>
            host.ShutdownTimeout = TimeSpan.FromSeconds(shutdown.Value.DrainSeconds + shutdown.Value.TimeoutSeconds));
        builder.Services.AddHostedService<ShutdownDrain>();
        return builder;
    }

    /// <summary>Maps /health/live and /health/ready, and refuses new work once shutdown has begun.</summary>
    public static WebApplication MapMaasHealth(this WebApplication app)
    {
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        app.Use(async (context, next) =>
        {
            if (lifetime.ApplicationStopping.IsCancellationRequested && !context.Request.Path.StartsWithSegments("/health"))
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                context.Response.Headers.Connection = "close";
                context.Response.Headers.RetryAfter = "1";
                await context.Response.WriteAsJsonAsync(new { error = "the server is shutting down" });
                return;
            }

            await next(context);
        });

        var group = app.MapGroup("/health");
        group.MapGet("/live", () => Results.Ok(new { status = "live" }));
        group.MapGet("/ready", async (IEnumerable<IReadinessCheck> checks, CancellationToken cancellationToken) =>
        {
            if (lifetime.ApplicationStopping.IsCancellationRequested)
            {
                return Results.Json(new { status = "stopping" }, statusCode: StatusCodes.Status503ServiceUnavailable);
            }

            var failing = new Dictionary<string, string>();
            foreach (var check in checks)
            {
                string? problem;
                try
                {
                    problem = await check.CheckAsync(cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    problem = ex.Message;
                }

                if (problem is not null)
                {
                    failing[check.Name] = problem;
                }
            }

            return failing.Count == 0
                ? Results.Ok(new { status = "ready" })
                : Results.Json(new { status = "not_ready", checks = failing }, statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        return app;
    }

    /// <summary>Stopped before the web server (hosted services stop in reverse order), so the listener stays open during the drain.</summary>
    private sealed class ShutdownDrain(IOptions<ShutdownOptions> options, ILogger<ShutdownDrain> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            var drain = TimeSpan.FromSeconds(options.Value.DrainSeconds);
            if (drain > TimeSpan.Zero)
            {
                logger.LogInformation("Shutting down: readiness is false, draining for {DrainSeconds}s before the listener closes", drain.TotalSeconds);
                try
                {
                    await Task.Delay(drain, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    // The host's own timeout ended the drain early; continue shutting down.
                }
            }
        }
    }
}
