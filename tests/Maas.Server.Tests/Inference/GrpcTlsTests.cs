using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Maas.Server.Inference.Grpc.Protocol;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Inference;

/// <summary>gRPC over TLS from configuration, with a certificate the test generates.</summary>
public sealed class GrpcTlsTests
{
    [Fact]
    public async Task An_https_grpc_url_serves_the_configured_certificate()
    {
        using var folder = new TempDirectory("maas-grpc-tls");
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
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
}
