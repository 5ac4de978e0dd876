using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Storage.Sql;
using Maas.Storage.Tenancy;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Maas.Server.Tenancy;

/// <summary>Tenants, their API keys and limits, usage reports and the audit log (the gate that enforces them: Auth/AuthExtensions).</summary>
public static class TenancyExtensions
{
    /// <summary>Registers the tenancy store (on the registry's database), the tenancy manager and the first-run bootstrap.</summary>
    public static WebApplicationBuilder AddMaasTenancy(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<ITenancyStore>(sp => new SqlTenancyStore(sp.GetRequiredService<SqlRegistryStore>().Dialect));
        services.AddSingleton(sp =>
        {
            var manager = new TenancyManager(sp.GetRequiredService<ITenancyStore>(), sp.GetRequiredService<TimeProvider>());
            // A change made here applies to this node's next request; other nodes see it through the change counter.
            var keys = sp.GetRequiredService<ApiKeyAuthenticator>();
            manager.Changed += (_, _) => keys.Invalidate();
            return manager;
        });
        services.AddSingleton<TenancyStartup>();
        services.AddHostedService(sp => sp.GetRequiredService<TenancyStartup>());
        return builder;
    }

    /// <summary>Maps /api/v1/tenants, /keys, /me, /usage and /audit.</summary>
    public static WebApplication MapMaasTenancy(this WebApplication app)
    {
        var api = app.MapGroup("/api/v1").WithApiErrors().WithTenancyErrors();
        TenancyEndpoints.Map(api);
        UsageEndpoints.Map(api);
        return app;
    }
}
