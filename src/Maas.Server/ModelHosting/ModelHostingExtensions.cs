using Maas.Core.Hosting;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Microsoft.Extensions.Options;

namespace Maas.Server.ModelHosting;

/// <summary>Registers the one model host every engine loads through (<c>Maas:Hosting</c>) and maps its loaded-models route.</summary>
public static class ModelHostingExtensions
{
    /// <summary>Adds the host (engines come from the features that register an <see cref="IModelEngine"/>), its start-up and metrics.</summary>
    public static WebApplicationBuilder AddMaasModelHosting(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<ModelHostingOptions>()
            .Bind(builder.Configuration.GetSection(ModelHostingOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton(sp =>
        {
            // An admin sets a tenant's quota in its limits (cached with the tenant's other limits); a server without
            // the auth gate has no tenants' quotas.
            var keys = sp.GetService<ApiKeyAuthenticator>();
            return new ModelHost(
                sp.GetServices<IModelEngine>(),
                sp.GetRequiredService<IOptions<ModelHostingOptions>>().Value.ToHostOptions(),
                sp.GetService<TimeProvider>())
            {
                TenantMemoryQuotas = async (tenant, cancellationToken) =>
                    keys is null ? 0 : (await keys.GetTenantLimitsAsync(tenant, cancellationToken)).MemoryQuotaBytes ?? 0,
            };
        });
        services.AddSingleton<ModelHostMetrics>();
        services.AddSingleton<Maas.Core.Registry.IVersionUseCheck, HostedVersionUseCheck>();
        services.AddHostedService<ModelHostStartup>();
        return builder;
    }

    /// <summary>Maps <c>GET /api/v1/loaded-models</c> and the explicit <c>:load</c> and <c>:unload</c> of a version.</summary>
    public static IEndpointRouteBuilder MapMaasModelHosting(this IEndpointRouteBuilder app)
    {
        if (app.ServiceProvider.GetRequiredService<IOptions<Maas.Server.Observability.ObservabilityOptions>>().Value.Metrics)
        {
            _ = app.ServiceProvider.GetRequiredService<ModelHostMetrics>(); // listens from the start, not from the first scrape
        }

        app.MapGet("/api/v1/loaded-models", LoadedModelsEndpoint.ListAsync).WithTags("Models").RequireScope(MaasScopes.Admin, MaasScopes.ModelsRead);
        ModelControlEndpoints.Map(app);
        return app;
    }
}
