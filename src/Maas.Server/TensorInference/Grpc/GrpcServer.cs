using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Maas.Server.TensorInference.Grpc;

/// <summary>
/// Runs the gRPC service on its own port: a second, minimal Kestrel host in the same process (HTTP/2 without TLS),
/// so the main listener keeps honouring --urls / ASPNETCORE_URLS untouched.
/// </summary>
internal sealed class GrpcServer(
    IServiceProvider services,
    IConfiguration configuration,
    IOptions<InferenceOptions> options,
    IOptions<GrpcPipelineOptions> pipeline,
    ILogger<GrpcServer> logger) : IHostedService, IAsyncDisposable
{
    private WebApplication? _app;

    /// <summary>The address the gRPC service listens on once started (null when off).</summary>
    public Uri? Address { get; private set; }

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var configured = configuration[InferenceOptions.Section + ":" + nameof(InferenceOptions.GrpcUrl)];
        var url = options.Value.GrpcUrl;
        if (string.IsNullOrWhiteSpace(url))
        {
            logger.LogInformation("gRPC inference service is off (Maas:Inference:GrpcUrl is empty)");
            return;
        }

        // A server asked to pick its HTTP port (tests, side-by-side instances) picks its gRPC port too, unless told one.
        var explicitUrl = configured is not null;
        if (!explicitUrl && (configuration[WebHostDefaults.ServerUrlsKey] ?? "").Split(';').Any(u => u.TrimEnd('/').EndsWith(":0", StringComparison.Ordinal)))
        {
            url = "http://127.0.0.1:0";
        }

        var uri = new Uri(url, UriKind.Absolute); // an http(s) address: checked with the options at start-up (GrpcUrlIsValid)

        var certificate = uri.Scheme == Uri.UriSchemeHttps ? LoadCertificate(options.Value) : null;

        var endpoint = uri.Host switch
        {
            "localhost" => new IPEndPoint(IPAddress.Loopback, uri.Port),
            "*" or "+" or "0.0.0.0" => new IPEndPoint(IPAddress.Any, uri.Port),
            _ => new IPEndPoint(IPAddress.Parse(uri.Host.Trim('[', ']')), uri.Port),
        };

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = null; // messages are checked one by one against MaxRequestBodyBytes
            k.Limits.Http2.InitialConnectionWindowSize = 16 * 1024 * 1024;
            k.Limits.Http2.InitialStreamWindowSize = 8 * 1024 * 1024;
            k.Limits.Http2.MaxStreamsPerConnection = options.Value.GrpcMaxStreamsPerConnection;
            k.Limits.MaxConcurrentConnections = options.Value.GrpcMaxConnections > 0 ? options.Value.GrpcMaxConnections : null;
            k.Listen(endpoint, l =>
            {
                l.Protocols = HttpProtocols.Http2;
                if (certificate is not null)
                {
                    l.UseHttps(certificate);
                }
            });
        });
        var app = builder.Build();
        var service = services.GetRequiredService<GrpcInferenceService>();

        // This host's own container holds only Kestrel's services: each call resolves from a scope of the main app's,
        // as a call on the main listener would, so middleware and handlers may use RequestServices alike on both.
        app.Use(async (context, next) =>
        {
            await using var scope = services.CreateAsyncScope();
            context.RequestServices = scope.ServiceProvider;
            await next(context);
        });
        foreach (var step in pipeline.Value.Steps)
        {
            step(app, services);
        }

        app.Run(service.HandleAsync);
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (IOException ex) when (!explicitUrl)
        {
            // The default port is taken (another instance?): serve REST anyway and say how to fix it.
            logger.LogWarning("gRPC inference service not started: {Endpoint} is in use ({Message}); set Maas:Inference:GrpcUrl to another address", endpoint, ex.Message);
            await app.DisposeAsync();
            return;
        }

        _app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        Address = address is null ? null : new Uri(address);
        logger.LogInformation("gRPC inference service (inference.GRPCInferenceService) listening on {Address}", Address);
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2 LoadCertificate(InferenceOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.GrpcCertificatePath))
        {
            throw new InvalidOperationException("Maas:Inference:GrpcUrl is https://: set Maas:Inference:GrpcCertificatePath (a PFX, or a PEM with GrpcCertificateKeyPath)");
        }

        try
        {
            return string.IsNullOrWhiteSpace(options.GrpcCertificateKeyPath)
                ? System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(options.GrpcCertificatePath, options.GrpcCertificatePassword)
                : options.GrpcCertificatePassword is { Length: > 0 } password
                    ? System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromEncryptedPemFile(options.GrpcCertificatePath, password,
                        options.GrpcCertificateKeyPath)
                    : System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(options.GrpcCertificatePath, options.GrpcCertificateKeyPath);
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException)
        {
            // The message names the file, never the password.
            throw new InvalidOperationException($"Maas:Inference:GrpcCertificatePath '{options.GrpcCertificatePath}' could not be loaded: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
            _app = null;
        }
    }
}
