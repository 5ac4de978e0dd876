using System.Net;
using Google.Protobuf;
using Maas.Core.Tenancy;
using Maas.Server.Inference.Grpc.Protocol;
using Maas.Server.Tests.Inference;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Tenancy;

/// <summary>Limits hold for the whole life of a call: every message of a gRPC stream is admitted like a request.</summary>
public sealed class OpenCallLimitTests
{
    [Fact]
    public async Task Every_message_of_a_grpc_stream_counts_against_the_rate_limit()
    {
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?> { ["Maas:Inference:GrpcUrl"] = "http://127.0.0.1:0" });
        var tenant = await host.CreateTenantAsync();
        var (_, key) = await host.CreateKeyAsync(tenant, [MaasScopes.Infer], limits: """{"requests_per_minute": 3}""");
        using var grpc = new GrpcTestClient(host.Server.GrpcAddress(), key);
        var messages = Enumerable.Range(0, 5).Select(_ => new ModelInferRequest { ModelName = "no-such-model" }.ToByteArray()).ToArray();

        var stream = await grpc.CallRawAsync("ModelStreamInfer", messages, ModelStreamInferResponse.Parser);

        Assert.Equal(0, stream.Status);
        Assert.Equal(5, stream.Responses.Count);
        Assert.All(stream.Responses.Take(3), r => Assert.Contains("does not exist", r.ErrorMessage, StringComparison.Ordinal));
        Assert.All(stream.Responses.Skip(3), r => Assert.Contains("requests_per_minute = 3", r.ErrorMessage, StringComparison.Ordinal));
    }
}
