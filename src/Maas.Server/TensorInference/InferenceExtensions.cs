using Maas.Core.Hosting;
using Maas.Core.Registry;
using Maas.Core.TensorServing;
using Maas.Runtimes.Onnx;
using Maas.Runtimes.Onnx.Serving;
using Maas.Server.TensorInference.Grpc;
using Maas.Server.TensorInference.Rest;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;

namespace Maas.Server.TensorInference;

/// <summary>Registers model serving (scheduler, ONNX backend, OIP v2 over REST and gRPC, /predict) and maps its routes.</summary>
public static class InferenceExtensions
{
    /// <summary>Adds the tensor engine to the model host, the model manager, the protocol adapters, the gRPC listener and the first-run demo model.</summary>
    public static WebApplicationBuilder AddMaasInference(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<InferenceOptions>()
            .Bind(builder.Configuration.GetSection(InferenceOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => o.GrpcUrlIsValid(), InferenceOptions.GrpcUrlProblem)
            .ValidateOnStart();
        // Refused uploads stay in the socket: the listener reads only a little ahead of the handlers (plain and TLS).
        services.AddOptions<SocketTransportOptions>()
            .Configure<IOptions<InferenceOptions>>((transport, o) => transport.MaxReadBufferSize = o.Value.HttpReadAheadBytes);
        // Larger receive blocks for the listener (replaces Kestrel's factory of 4 KiB block pools; 0 keeps it).
        if (builder.Configuration.GetValue<int?>($"{InferenceOptions.Section}:{nameof(InferenceOptions.HttpReceiveBlockBytes)}") != 0)
        {
            services.AddSingleton<IMemoryPoolFactory<byte>, ReceiveBlockMemoryPoolFactory>();
        }

        services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<InferenceOptions>>((kestrel, o) => kestrel.Limits.MaxRequestBufferSize = o.Value.HttpReadAheadBytes);
        // A thread per connection instead of Kestrel's sockets (registered last, so Kestrel binds IP endpoints with it).
        if (builder.Configuration[$"{InferenceOptions.Section}:{nameof(InferenceOptions.HttpTransport)}"] == "threads")
        {
            services.AddSingleton<IConnectionListenerFactory, Transport.ConnectionThreadTransportFactory>();
        }

        // A per-address rate of new connections, checked before a connection's first request is parsed.
        if (builder.Configuration.GetValue<double?>($"{InferenceOptions.Section}:{nameof(InferenceOptions.HttpConnectionsPerSecondPerAddress)}") is > 0)
        {
            services.AddSingleton(sp =>
            {
                var o = sp.GetRequiredService<IOptions<InferenceOptions>>().Value;
                var proxies = sp.GetRequiredService<IOptions<Auth.AuthOptions>>().Value.TrustedProxies
                    .Select(Auth.AuthExtensions.TrustedProxyNetwork).OfType<System.Net.IPNetwork>().ToList();
                var rate = new AddressConnectionRate(o.HttpConnectionsPerSecondPerAddress, o.HttpConnectionBurstPerAddress, proxies,
                    sp.GetService<TimeProvider>() ?? TimeProvider.System);
                System.Diagnostics.Metrics.MeterFactoryExtensions.Create(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
                    Maas.Core.Observability.MaasTelemetry.Name).CreateObservableCounter(
                    "maas.http.connections.refused", () => rate.Refused, unit: "{connection}",
                    description: "New HTTP connections refused because their address opened more than Maas:Inference:HttpConnectionsPerSecondPerAddress.");
                return rate;
            });
            services.AddOptions<KestrelServerOptions>()
                .Configure<IServiceProvider>((kestrel, sp) => kestrel.ConfigureEndpointDefaults(listen => listen.Use(next =>
                    new AddressConnectionRateMiddleware(next, sp.GetRequiredService<AddressConnectionRate>(),
                    sp.GetRequiredService<IOptions<InferenceOptions>>().Value).OnConnectionAsync)));
        }

        // The catalog reads the registry on use: the registry's version-use checks reach the host this catalog's engine is in.
        services.AddSingleton(sp => new Lazy<IModelRegistry>(sp.GetRequiredService<IModelRegistry>));
        services.AddSingleton<IServableModelCatalog, RegistryModelCatalog>();
        services.AddSingleton<IModelBackendFactory>(sp =>
        {
            OnnxEnvironment.Configure(sp.GetRequiredService<ILoggerFactory>()); // engine messages into .NET logging
            return new OnnxBackendFactory(sp.GetRequiredService<ILoggerFactory>().CreateLogger<OnnxBackendFactory>());
        });
        // The tensor engine plugs into the one model host; the manager is the inference protocols' view of it.
        services.AddSingleton<IModelEngine>(sp => new TensorModelEngine(
            sp.GetRequiredService<IModelBackendFactory>(),
            sp.GetRequiredService<IServableModelCatalog>(),
            sp.GetService<Maas.Core.Observability.ServingTelemetry>()));
        services.AddSingleton(sp => new ModelManager(
            sp.GetRequiredService<IServableModelCatalog>(),
            sp.GetRequiredService<ModelHost>(),
            new ModelManagerOptions
            {
                ResolveCacheTime = TimeSpan.FromMilliseconds(sp.GetRequiredService<IOptions<InferenceOptions>>().Value.ResolveCacheMs),
                ResolveCacheEntries = sp.GetRequiredService<IOptions<InferenceOptions>>().Value.ResolveCacheEntries,
                Telemetry = sp.GetService<Maas.Core.Observability.ServingTelemetry>(),
            }));
        services.AddSingleton<IHostedModelSource>(sp => sp.GetRequiredService<ModelManager>());
        services.AddSingleton<ServingMetrics>();
        services.AddSingleton<SharedMemory.SystemSharedMemoryRegistry>();
        services.AddSingleton<InferenceCallServices>();
        services.AddSingleton<GrpcInferenceService>();
        services.AddSingleton<GrpcServer>();
        services.AddHostedService<InferenceStartup>();
        services.AddHostedService(sp => sp.GetRequiredService<GrpcServer>());
        return builder;
    }

    /// <summary>Maps /v2 (Open Inference Protocol) and /api/v1/models/{model}/predict, and starts the serving metrics.</summary>
    public static IEndpointRouteBuilder MapMaasInference(this IEndpointRouteBuilder app)
    {
        if (app.ServiceProvider.GetRequiredService<IOptions<Observability.ObservabilityOptions>>().Value.Metrics)
        {
            _ = app.ServiceProvider.GetRequiredService<ServingMetrics>(); // its instruments exist from the start, not from the first scrape
        }

        V2Endpoints.Map(app);
        SharedMemory.SharedMemoryEndpoints.Map(app);
        PredictEndpoint.Map(app);
        return app;
    }
}
