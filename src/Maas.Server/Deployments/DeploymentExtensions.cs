using Maas.Core.Deployments;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Registry;
using Maas.Storage.Deployments;
using Maas.Storage.Sql;

namespace Maas.Server.Deployments;

/// <summary>The deployments feature: traffic splits, shadows, sticky routing, rollouts with analysis, and their API.</summary>
public static class DeploymentExtensions
{
    /// <summary>Registers the store, the router, the shadow queue, the analysis loop and the sync with other servers.</summary>
    public static WebApplicationBuilder AddMaasDeployments(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<DeploymentOptions>()
            .Bind(builder.Configuration.GetSection(DeploymentOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IDeploymentStore>(sp => new SqlDeploymentStore(sp.GetRequiredService<SqlRegistryStore>().Dialect));
        services.AddSingleton<DeploymentMetrics>();
        services.AddSingleton<DeploymentRouter>();
        services.AddSingleton<DeploymentService>();
        services.AddSingleton<ShadowQueue>();
        services.AddSingleton<TextVersionRuns>();
        services.AddSingleton<ITextVersionWarmUp>(sp => sp.GetRequiredService<TextVersionRuns>());
        services.AddSingleton<DeploymentMeters>();
        // The registry is built with this check, and the service that moves deployments off a deleted version with the
        // registry: the check hands deletions to the service through VersionDeletions (the service attaches itself).
        services.AddSingleton<VersionDeletions>();
        services.AddSingleton<Maas.Core.Registry.IVersionUseCheck, DeployedVersionUseCheck>();
        services.AddHostedService(sp => sp.GetRequiredService<ShadowQueue>());
        services.AddHostedService<DeploymentSync>();
        services.AddHostedService<DeploymentAnalysis>();
        services.AddSingleton<WarmingVersions>();
        services.AddSingleton<DeploymentUnloader>();
        services.AddHostedService(sp => sp.GetRequiredService<DeploymentUnloader>());
        return builder;
    }

    /// <summary>Maps /api/v1/deployments (models:read to read, models:write to change).</summary>
    public static IEndpointRouteBuilder MapMaasDeployments(this IEndpointRouteBuilder app)
    {
        if (app.ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<Observability.ObservabilityOptions>>().Value.Metrics)
        {
            _ = app.ServiceProvider.GetRequiredService<DeploymentMeters>(); // counts from the start, not from the first scrape
        }

        var api = app.MapGroup("/api/v1/deployments").WithApiErrors().RequireReadWriteScopes([MaasScopes.ModelsRead], [MaasScopes.ModelsWrite]);
        api.WaitForRegistry();
        DeploymentEndpoints.Map(api);
        return app;
    }

    /// <summary>This server's deployment metrics.</summary>
    internal static DeploymentMetrics Metrics(this DeploymentService service) => service.Router.Metrics;
}
