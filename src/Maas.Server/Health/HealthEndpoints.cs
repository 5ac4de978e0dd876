namespace Maas.Server.Health;

/// <summary>Liveness and readiness probes.</summary>
public static class HealthEndpoints
{
    /// <summary>Maps /health/live and /health/ready.</summary>
    public static IEndpointRouteBuilder MapMaasHealth(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/health");
        group.MapGet("/live", () => Results.Ok(new { status = "live" }));
        group.MapGet("/ready", (IHostApplicationLifetime lifetime) =>
            lifetime.ApplicationStopping.IsCancellationRequested
                ? Results.Json(new { status = "stopping" }, statusCode: StatusCodes.Status503ServiceUnavailable)
                : Results.Ok(new { status = "ready" }));
        return app;
    }
}
