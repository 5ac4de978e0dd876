using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.TensorInference;

/// <summary>HTTPS and gRPC over TLS from configuration, with a certificate the test generates.</summary>
public sealed class TlsTests
{
    [Fact]
    public async Task An_https_grpc_url_serves_the_configured_certificate()
    {
        using var folder = new TempDirectory("maas-grpc-tls");
        using var certificate = SelfSigned();
        var pfx = Path.Combine(folder.Path, "server.pfx");
        await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "test-password"));

        await using var server = await InferenceHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:Inference:GrpcUrl"] = "https://127.0.0.1:0",
            ["Maas:Inference:GrpcCertificatePath"] = pfx,
            ["Maas:Inference:GrpcCertificatePassword"] = "test-password",
        });
        var address = server.GrpcAddress();
        Assert.Equal(Uri.UriSchemeHttps, address.Scheme);

        using var grpc = new GrpcTestClient(address, trust: certificate);
        var live = await grpc.CallAsync("ServerLive", new ServerLiveRequest(), ServerLiveResponse.Parser);
        Assert.Equal(0, live.Status);
        Assert.True(live.Single.Live);
        var metadata = await grpc.CallAsync("ServerMetadata", new ServerMetadataRequest(), ServerMetadataResponse.Parser);
        Assert.Equal("maas", metadata.Single.Name);
    }

    [Fact]
    public async Task Kestrel_endpoint_configuration_serves_https_with_the_configured_certificate()
    {
        using var folder = new TempDirectory("maas-https");
        using var certificate = SelfSigned();
        var pfx = Path.Combine(folder.Path, "server.pfx");
        await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "test-password"));

        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Https:Url"] = "https://127.0.0.1:0",
            ["Kestrel:Endpoints:Https:Certificate:Path"] = pfx,
            ["Kestrel:Endpoints:Https:Certificate:Password"] = "test-password",
            ["Maas:Inference:GrpcUrl"] = "",
        });
        Assert.Equal(Uri.UriSchemeHttps, server.BaseAddress.Scheme);

        X509Certificate? seen = null;
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, _) =>
        {
            seen = presented;
            return presented is not null && presented.GetCertHashString() == certificate.GetCertHashString();
        };
        using var client = new HttpClient(handler) { BaseAddress = server.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", MaasTestServer.AdminKey);
        using var me = await client.GetAsync("api/v1/me");
        Assert.Equal(System.Net.HttpStatusCode.OK, me.StatusCode);
        Assert.Equal(certificate.GetCertHashString(), seen?.GetCertHashString());
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }
}
