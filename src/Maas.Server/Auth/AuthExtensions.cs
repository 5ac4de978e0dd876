using Maas.Core.Tenancy;
using Maas.Server.TensorInference.Grpc;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Maas.Server.Auth;

/// <summary>The auth gate: API keys, scopes, model access, rate limits, usage metering, on REST and gRPC alike.</summary>
public static class AuthExtensions
{
    /// <summary>Registers the gate's options (<c>Maas:Auth</c>, <c>Maas:Limits</c>, <c>Maas:Usage</c>), the key cache, the limiters and the usage writer.</summary>
    public static WebApplicationBuilder AddMaasAuth(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var configuration = builder.Configuration;
        services.AddOptions<AuthOptions>()
            .Bind(configuration.GetSection(AuthOptions.Section))
            // MAAS_ADMIN_KEY arrives as "ADMIN_KEY" through the MAAS_ environment prefix.
            .PostConfigure(o => o.AdminKey ??= configuration["ADMIN_KEY"])
            .ValidateDataAnnotations()
            .Validate(
                o => o.TrustedProxies.All(p => TrustedProxyNetwork(p) is not null),
                $"{AuthOptions.Section}:TrustedProxies must hold IP addresses or CIDR networks (such as 10.0.0.5 or 10.0.0.0/8)")
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuthOptions>, AdminKeyOptionsValidator>();
        services.AddOptions<LimitsOptions>().Bind(configuration.GetSection(LimitsOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<UsageOptions>().Bind(configuration.GetSection(UsageOptions.Section)).ValidateDataAnnotations().ValidateOnStart();

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new LimitTracker(
            sp.GetRequiredService<TimeProvider>(),
            TimeSpan.FromSeconds(sp.GetRequiredService<IOptions<LimitsOptions>>().Value.WindowSeconds)));
        services.AddSingleton<ApiKeyAuthenticator>();
        services.AddSingleton<FailedAttemptLimiter>();
        services.AddSingleton<ModelDirectory>();
        services.AddSingleton<EndpointAccess>();
        services.AddSingleton<TenancyReadiness>();
        services.AddSingleton<OpenCalls>();
        services.AddHostedService(sp => sp.GetRequiredService<OpenCalls>());
        services.AddSingleton<AuthPipeline>();
        services.AddSingleton<UsageRecorder>();
        services.AddHostedService(sp => sp.GetRequiredService<UsageRecorder>());
        services.AddHostedService<TenancyChangeWatcher>();
        // The gRPC listener is its own Kestrel host: the same gate goes in front of it.
        services.Configure<GrpcPipelineOptions>(o => o.Use((grpcApp, mainServices) => grpcApp.UseMaasGrpcAuth(mainServices)));
        return builder;
    }

    /// <summary>
    /// Puts the auth gate (key, scope, model access, rate limits) in front of every route: call it right after the
    /// request-id middleware, before any other.
    /// </summary>
    public static WebApplication UseMaasAuth(this WebApplication app)
    {
        var pipeline = app.Services.GetRequiredService<AuthPipeline>();
        UseTrustedForwardedHeaders(app, app.Services);
        app.Use(next => context => pipeline.InvokeAsync(context, next));
        return app;
    }

    /// <summary>Puts the auth gate in front of the gRPC listener (a separate Kestrel app; <paramref name="services"/> are the main app's).</summary>
    public static IApplicationBuilder UseMaasGrpcAuth(this IApplicationBuilder grpcApp, IServiceProvider services)
    {
        var pipeline = services.GetRequiredService<AuthPipeline>();
        UseTrustedForwardedHeaders(grpcApp, services);
        return grpcApp.Use(next => context => pipeline.InvokeGrpcAsync(context, next));
    }

    /// <summary>An entry of <see cref="AuthOptions.TrustedProxies"/> as a network (an address is a /32 or /128), or null when it is neither.</summary>
    public static System.Net.IPNetwork? TrustedProxyNetwork(string entry)
    {
        var text = entry.Trim();
        if (System.Net.IPNetwork.TryParse(text, out var network))
        {
            return network;
        }

        return System.Net.IPAddress.TryParse(text, out var address)
            ? new System.Net.IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)
            : null;
    }

    // The client address (failed-attempt limit, audit log) comes from X-Forwarded-For only when the connection is from
    // a configured proxy; ASP.NET Core's own default of trusting loopback is dropped, so with none configured, no one.
    private static void UseTrustedForwardedHeaders(IApplicationBuilder app, IServiceProvider services)
    {
        var proxies = services.GetRequiredService<IOptions<AuthOptions>>().Value.TrustedProxies;
        if (proxies.Length == 0)
        {
            return;
        }

        var forwarded = new ForwardedHeadersOptions
        {
            ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto,
            ForwardLimit = null, // walk back through every trusted proxy, stop at the first address that is not one
        };
        forwarded.KnownProxies.Clear();
        forwarded.KnownIPNetworks.Clear();
        foreach (var proxy in proxies)
        {
            forwarded.KnownIPNetworks.Add(TrustedProxyNetwork(proxy)!.Value);
        }

        app.UseForwardedHeaders(forwarded);
    }
}
