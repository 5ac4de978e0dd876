using System.Net;
using Maas.Core.Tenancy;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;

namespace Maas.Server.Tests.Tenancy;

/// <summary>A tenancy server with the gRPC listener on.</summary>
public sealed class GrpcTenancyFixture : IAsyncLifetime
{
    private TenancyHost? _host;

    public TenancyHost Host => _host ?? throw new InvalidOperationException("not started");

    public Uri Grpc => Host.Server.GrpcAddress();

    public async Task InitializeAsync() => _host = await TenancyHost.StartAsync(new Dictionary<string, string?>
    {
        ["Maas:Inference:GrpcUrl"] = "http://127.0.0.1:0",
        ["Maas:Limits:WindowSeconds"] = "2",
    });

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}

public sealed class GrpcAuthTests(GrpcTenancyFixture fixture) : IClassFixture<GrpcTenancyFixture>
{
    private const int Ok = 0;
    private const int PermissionDenied = 7;
    private const int ResourceExhausted = 8;
    private const int Unauthenticated = 16;

    private TenancyHost Host => fixture.Host;

    [Fact]
    public async Task Health_methods_need_no_key_and_the_rest_need_one_as_metadata()
    {
        using var grpc = new GrpcTestClient(fixture.Grpc, apiKey: null);
        Assert.Equal(Ok, (await grpc.CallAsync("ServerLive", new ServerLiveRequest(), ServerLiveResponse.Parser)).Status);
        Assert.Equal(Ok, (await grpc.CallAsync("ServerReady", new ServerReadyRequest(), ServerReadyResponse.Parser)).Status);

        var refused = await grpc.CallAsync("ServerMetadata", new ServerMetadataRequest(), ServerMetadataResponse.Parser);
        Assert.Equal(Unauthenticated, refused.Status);
        Assert.Contains("API key", refused.Message, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, refused.Http.StatusCode);

        var bearer = await grpc.CallAsync("ServerMetadata", new ServerMetadataRequest(), ServerMetadataResponse.Parser, Auth(TenancyHost.AdminKey));
        Assert.Equal(Ok, bearer.Status);
        Assert.Equal("maas", bearer.Single.Name);
        var apiKey = await grpc.CallAsync("ServerMetadata", new ServerMetadataRequest(), ServerMetadataResponse.Parser,
            new Dictionary<string, string> { ["x-api-key"] = TenancyHost.AdminKey });
        Assert.Equal(Ok, apiKey.Status);

        var wrong = await grpc.CallAsync("ServerMetadata", new ServerMetadataRequest(), ServerMetadataResponse.Parser, Auth("maas_not-a-key-anyone-issued-000000000"));
        Assert.Equal(Unauthenticated, wrong.Status);
    }

    [Fact]
    public async Task Scopes_and_limits_apply_to_grpc_calls_and_they_are_metered()
    {
        var tenant = await Host.CreateTenantAsync();
        var (readId, read) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead], limits: """{"requests_per_minute": 2}""");
        using var grpc = new GrpcTestClient(fixture.Grpc, apiKey: null);

        var infer = await grpc.CallAsync("ModelInfer", new ModelInferRequest { ModelName = "any" }, ModelInferResponse.Parser, Auth(read));
        Assert.Equal(PermissionDenied, infer.Status);
        Assert.Contains("infer", infer.Message, StringComparison.Ordinal);
        var load = await grpc.CallAsync("RepositoryModelLoad", new RepositoryModelLoadRequest { ModelName = "any" }, RepositoryModelLoadResponse.Parser, Auth(read));
        Assert.Equal(PermissionDenied, load.Status);

        // Two requests per window: the denied ones above did not count, one call passes, the next is refused.
        using var held = Host.HoldAtFreshWindow(2000);
        Assert.Equal(Ok, (await grpc.CallAsync("ServerMetadata", new ServerMetadataRequest(), ServerMetadataResponse.Parser, Auth(read))).Status);
        Assert.Equal(Ok, (await grpc.CallAsync("ServerMetadata", new ServerMetadataRequest(), ServerMetadataResponse.Parser, Auth(read))).Status);
        var limited = await grpc.CallAsync("ServerMetadata", new ServerMetadataRequest(), ServerMetadataResponse.Parser, Auth(read));
        Assert.Equal(ResourceExhausted, limited.Status);
        Assert.Contains("requests_per_minute", limited.Message, StringComparison.Ordinal);

        var usage = await (await Host.Admin.GetAsync($"api/v1/usage?key={readId}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(5, (long?)usage["totals"]!["requests"]);
        Assert.Equal(3, (long?)usage["totals"]!["errors"]);
    }

    [Fact]
    public async Task Another_tenants_private_model_is_not_found_over_grpc()
    {
        var (_, _, a) = await Host.TenantWithKeyAsync(MaasScopes.ModelsWrite, MaasScopes.Infer);
        var tenantB = await Host.CreateTenantAsync();
        var (_, b) = await Host.CreateKeyAsync(tenantB, [MaasScopes.Infer, MaasScopes.ModelsRead]);
        var name = "grpc-private-" + Guid.NewGuid().ToString("n")[..8];
        await a.CreateModelAsync(name);
        await a.UploadAsync(name, TestArtifacts.Onnx(), "model.onnx");
        var request = new ModelInferRequest { ModelName = name };
        request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor
        {
            Name = "input",
            Datatype = "FP32",
            Shape = { 1, 4 },
            Contents = new InferTensorContents { Fp32Contents = { 1, 2, 3, 4 } }
        });
        using var grpc = new GrpcTestClient(fixture.Grpc, apiKey: null);
        var hidden = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser, Auth(b));
        Assert.Equal(5, hidden.Status); // NOT_FOUND, as for a model that does not exist
        Assert.Equal(5, (await grpc.CallAsync("ModelMetadata", new ModelMetadataRequest { Name = name }, ModelMetadataResponse.Parser, Auth(b))).Status);
        Assert.Equal(PermissionDenied, (await grpc.CallAsync("RepositoryIndex", new RepositoryIndexRequest(), RepositoryIndexResponse.Parser, Auth(b))).Status);

        var ownerKey = a.DefaultRequestHeaders.Authorization!.Parameter!;
        var allowed = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser, Auth(ownerKey));
        Assert.Equal(Ok, allowed.Status);
    }

    private static Dictionary<string, string> Auth(string key) => new() { ["authorization"] = "Bearer " + key };
}
