using Maas.Core.Hosting;
using Maas.Server.Auth;
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
        builder.Services.AddSingleton<ShutdownState>();
        builder.Services.AddSingleton<MustLoadModels>();
        builder.Services.AddSingleton<IReadinessCheck>(sp => sp.GetRequiredService<MustLoadModels>());
        builder.Services.AddHostedService<ShutdownDrain>();
        return builder;
    }

    private static readonly AuthFailure ShuttingDown = new(
        StatusCodes.Status503ServiceUnavailable, "shutting_down", "the server is shutting down; retry on another node or once it is back", RetryAfter: TimeSpan.FromSeconds(1));

    /// <summary>Refuses new work (503 in the route's error format, except the health probes) once shutdown has begun.</summary>
    public static WebApplication UseMaasShutdownGate(this WebApplication app)
    {
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        var shutdown = app.Services.GetRequiredService<ShutdownState>();
        lifetime.ApplicationStopping.Register(shutdown.Begin);
        app.Use(async (context, next) =>
        {
            if (shutdown.IsStopping && !context.Request.Path.StartsWithSegments("/health"))
            {
                // In the route's own error format, so clients of each protocol read why and retry elsewhere.
                context.Response.Headers.Connection = "close";
                await AuthErrors.WriteAsync(context, AuthErrors.StyleOf(context.Request.Path), ShuttingDown);
                return;
            }

            await next(context);
        });
        return app;
    }

    /// <summary>Maps /health/live, /health/ready and /health (the same answer as /health/ready).</summary>
    public static WebApplication MapMaasHealth(this WebApplication app)
    {
        var shutdown = app.Services.GetRequiredService<ShutdownState>();
        // Null in a server without the auth gate: no key is then shown the failing checks.
        var keyCheck = app.Services.GetService<ApiKeyAuthenticator>() is { } keys && app.Services.GetService<FailedAttemptLimiter>() is { } failures
            ? new ProbeKeyCheck(keys, failures)
            : null;
        var group = app.MapGroup("/health");
        group.MapGet("/live", () => Results.Ok(new { status = "live" }));
        group.MapGet("/ready", ReadyAsync);

        // vLLM's and TGI's probe (what their users' load balancers and scripts poll): the readiness answer.
        app.MapGet("/health", ReadyAsync);
        return app;

        async Task<IResult> ReadyAsync(HttpContext context, IEnumerable<IReadinessCheck> checks, CancellationToken cancellationToken)
        {
            if (shutdown.IsStopping)
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

            if (failing.Count == 0)
            {
                return Results.Ok(new { status = "ready" });
            }

            // Which check fails (and why) is internal detail: only a caller with a valid key sees it.
            return keyCheck is not null && await keyCheck.HasValidKeyAsync(context)
                ? Results.Json(new { status = "not_ready", checks = failing }, statusCode: StatusCodes.Status503ServiceUnavailable)
                : Results.Json(new { status = "not_ready" }, statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }

    /// <summary>Waits in the host's "stopping" phase, which runs before any service (the web server too) stops.</summary>
    private sealed class ShutdownDrain(IOptions<ShutdownOptions> options, ShutdownState state, ILogger<ShutdownDrain> logger) : IHostedLifecycleService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task StoppingAsync(CancellationToken cancellationToken)
        {
            // The host calls this before it signals ApplicationStopping, so readiness turns false here.
            state.Begin();
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

    /// <summary>Whether shutdown has begun: readiness and the refusal of new work read it.</summary>
    public sealed class ShutdownState
    {
        private int _stopping;

        /// <summary>True once shutdown has begun.</summary>
        public bool IsStopping => Volatile.Read(ref _stopping) == 1;

        /// <summary>Marks shutdown as begun.</summary>
        public void Begin() => Volatile.Write(ref _stopping, 1);
    }
}
