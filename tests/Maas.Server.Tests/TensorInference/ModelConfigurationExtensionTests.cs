using System.Net;
using System.Text.Json;
using Maas.Core.Formats.Onnx;
using Maas.Core.Tenancy;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Tenancy;

namespace Maas.Server.Tests.TensorInference;

/// <summary>
/// Triton's model configuration extension over real HTTP: <c>GET /v2/models/{m}[/versions/{v}]/config</c> answers a
/// JSON ModelConfig built from the version's signature and serving configuration, with the models:read scope.
/// </summary>
public sealed class ModelConfigurationExtensionTests : IAsyncLifetime
{
    private TenancyHost _host = null!;

    public async Task InitializeAsync()
    {
        _host = await TenancyHost.StartAsync(new Dictionary<string, string?> { ["Maas:Inference:GrpcUrl"] = "http://127.0.0.1:0" });
        await RegisterAsync("mlp", OnnxModelWriter.Mlp(4, [8], 3).ToBytes(),
            """{"max_batch_size": 8, "preferred_batch_sizes": [2, 4], "max_queue_delay_ms": 3, "instance_count": 2}""");
        await RegisterAsync("fixed", OnnxModelWriter.Identity(OnnxElementType.Int64, 2, 3).ToBytes(), null);
        await RegisterAsync("fixed", OnnxModelWriter.Identity(OnnxElementType.Int64, 2, 3).ToBytes(), null);
    }

    public Task DisposeAsync() => _host.DisposeAsync().AsTask();

    [Fact]
    public async Task A_batched_model_reports_its_signature_without_the_batch_dimension_and_its_scheduling()
    {
        var (metadata, config) = (await GetAsync(_host.Admin, "/v2/models/mlp"), await GetAsync(_host.Admin, "/v2/models/mlp/config"));
        Assert.Equal("mlp", config.GetProperty("name").GetString());
        Assert.Equal("onnxruntime_onnx", config.GetProperty("platform").GetString());
        Assert.Equal("onnxruntime", config.GetProperty("backend").GetString());
        Assert.Equal(8, config.GetProperty("max_batch_size").GetInt32());

        // Every tensor of the metadata, its datatype in Triton's enum and its shape less the batch dimension.
        foreach (var (configured, described) in new[] { ("input", "inputs"), ("output", "outputs") })
        {
            var expected = metadata.GetProperty(described).EnumerateArray().Select(t =>
                (t.GetProperty("name").GetString(), "TYPE_" + t.GetProperty("datatype").GetString(),
                string.Join(",", t.GetProperty("shape").EnumerateArray().Skip(1).Select(d => d.GetInt64()))));
            var actual = config.GetProperty(configured).EnumerateArray().Select(t =>
                (t.GetProperty("name").GetString(), t.GetProperty("data_type").GetString()!, string.Join(",", t.GetProperty("dims").EnumerateArray().Select(d => d.GetInt64()))));
            Assert.Equal(expected, actual);
        }

        Assert.Equal("TYPE_FP32", config.GetProperty("input")[0].GetProperty("data_type").GetString());
        Assert.Equal("FORMAT_NONE", config.GetProperty("input")[0].GetProperty("format").GetString());
        var batching = config.GetProperty("dynamic_batching");
        Assert.Equal([2, 4], batching.GetProperty("preferred_batch_size").EnumerateArray().Select(b => b.GetInt32()));
        Assert.Equal(3000, batching.GetProperty("max_queue_delay_microseconds").GetInt64());
        var group = Assert.Single(config.GetProperty("instance_group").EnumerateArray());
        Assert.Equal("KIND_CPU", group.GetProperty("kind").GetString());
        Assert.Equal(2, group.GetProperty("count").GetInt32());

        // The server metadata names the extension.
        var server = await GetAsync(_host.Admin, "/v2");
        Assert.Contains("model_configuration", server.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task A_model_without_a_batch_dimension_has_max_batch_size_0_and_its_full_shape_per_version()
    {
        foreach (var path in new[] { "/v2/models/fixed/config", "/v2/models/fixed/versions/1/config", "/v2/models/fixed/versions/2/config" })
        {
            var config = await GetAsync(_host.Admin, path);
            Assert.Equal(0, config.GetProperty("max_batch_size").GetInt32());
            Assert.False(config.TryGetProperty("dynamic_batching", out _));
            var input = config.GetProperty("input")[0];
            Assert.Equal("TYPE_INT64", input.GetProperty("data_type").GetString());
            Assert.Equal([2L, 3L], input.GetProperty("dims").EnumerateArray().Select(d => d.GetInt64()));
        }
    }

    [Fact]
    public async Task An_unknown_model_or_version_is_the_protocols_error_and_the_scope_is_models_read()
    {
        foreach (var path in new[] { "/v2/models/nope/config", "/v2/models/fixed/versions/9/config" })
        {
            using var response = await _host.Admin.GetAsync(path);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
            var body = JsonDocument.Parse(text).RootElement;
            Assert.Equal(JsonValueKind.String, body.GetProperty("error").ValueKind);
        }

        var (_, inferOnly) = await _host.CreateKeyAsync(Tenant.DefaultName, [MaasScopes.Infer]);
        using (var client = _host.Client(inferOnly))
        {
            using var response = await client.GetAsync("/v2/models/mlp/config");
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        var (_, reader) = await _host.CreateKeyAsync(Tenant.DefaultName, [MaasScopes.ModelsRead]);
        using (var client = _host.Client(reader))
        {
            Assert.Equal("mlp", (await GetAsync(client, "/v2/models/mlp/config")).GetProperty("name").GetString());
        }

        using var anonymous = _host.Client(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v2/models/mlp/config")).StatusCode);
    }

    [Fact]
    public async Task Grpc_model_config_carries_the_same_configuration_as_rest()
    {
        using var grpc = new GrpcTestClient(_host.Server.GrpcAddress());
        foreach (var (model, version) in new[] { ("mlp", ""), ("fixed", "2") })
        {
            var rest = await GetAsync(_host.Admin, version.Length > 0 ? $"/v2/models/{model}/versions/{version}/config" : $"/v2/models/{model}/config");
            var result = await grpc.CallAsync("ModelConfig", new ModelConfigRequest { Name = model, Version = version }, ModelConfigResponse.Parser);
            Assert.True(result.Status == 0, result.Message);
            var config = result.Single.Config;
            Assert.Equal((rest.GetProperty("name").GetString(), rest.GetProperty("platform").GetString(), rest.GetProperty("backend").GetString()),
                (config.Name, config.Platform, config.Backend));
            Assert.Equal(rest.GetProperty("max_batch_size").GetInt32(), config.MaxBatchSize);
            Assert.Equal(ModelVersionPolicy.PolicyChoiceOneofCase.All, config.VersionPolicy.PolicyChoiceCase);
            Assert.Equal(
                rest.GetProperty("input").EnumerateArray().Select(t => (t.GetProperty("name").GetString(), t.GetProperty("data_type").GetString(), Dims(t))),
                config.Input.Select(t => ((string?)t.Name, (string?)("TYPE_" + t.DataType.ToString()[4..].ToUpperInvariant()), string.Join(",", t.Dims))));
            Assert.Equal(
                rest.GetProperty("output").EnumerateArray().Select(t => (t.GetProperty("name").GetString(), t.GetProperty("data_type").GetString(), Dims(t))),
                config.Output.Select(t => ((string?)t.Name, (string?)("TYPE_" + t.DataType.ToString()[4..].ToUpperInvariant()), string.Join(",", t.Dims))));
            var group = Assert.Single(config.InstanceGroup);
            Assert.Equal((ModelInstanceGroup.Types.Kind.Cpu, rest.GetProperty("instance_group")[0].GetProperty("count").GetInt32()), (group.Kind, group.Count));
            if (rest.TryGetProperty("dynamic_batching", out var batching))
            {
                Assert.Equal(batching.GetProperty("preferred_batch_size").EnumerateArray().Select(b => b.GetInt32()), config.DynamicBatching.PreferredBatchSize);
                Assert.Equal(batching.GetProperty("max_queue_delay_microseconds").GetUInt64(), config.DynamicBatching.MaxQueueDelayMicroseconds);
            }
            else
            {
                Assert.Null(config.DynamicBatching);
            }
        }

        Assert.Equal(2, (await grpc.CallAsync("ModelConfig", new ModelConfigRequest { Name = "mlp" }, ModelConfigResponse.Parser)).Single.Config.InstanceGroup[0].Count);
        Assert.Contains("model_configuration", (await grpc.CallAsync("ServerMetadata", new ServerMetadataRequest(), ServerMetadataResponse.Parser)).Single.Extensions);
        var missing = await grpc.CallAsync("ModelConfig", new ModelConfigRequest { Name = "fixed", Version = "9" }, ModelConfigResponse.Parser);
        Assert.Equal(5, missing.Status); // NOT_FOUND, as REST's 404

        var (_, inferOnly) = await _host.CreateKeyAsync(Tenant.DefaultName, [MaasScopes.Infer]);
        using var limited = new GrpcTestClient(_host.Server.GrpcAddress(), inferOnly);
        Assert.Equal(7, (await limited.CallAsync("ModelConfig", new ModelConfigRequest { Name = "mlp" }, ModelConfigResponse.Parser)).Status); // PERMISSION_DENIED

        static string Dims(JsonElement tensor) => string.Join(",", tensor.GetProperty("dims").EnumerateArray().Select(d => d.GetInt64()));
    }

    private static async Task<JsonElement> GetAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private async Task RegisterAsync(string name, byte[] onnx, string? config)
    {
        using (var created = await _host.Admin.PostAsync("/api/v1/models", Api.Json($$"""{"name": "{{name}}"}""")))
        {
            Assert.True(created.IsSuccessStatusCode || created.StatusCode == HttpStatusCode.Conflict, await created.Content.ReadAsStringAsync());
        }

        if (config is not null)
        {
            using var set = await _host.Admin.PutAsync($"/api/v1/models/{name}/config", Api.Json(config));
            Assert.True(set.IsSuccessStatusCode, await set.Content.ReadAsStringAsync());
        }

        using var uploaded = await _host.Admin.PostAsync($"/api/v1/models/{name}/versions", MaasTestServer.Artifact(onnx, name + ".onnx"));
        Assert.True(uploaded.IsSuccessStatusCode, await uploaded.Content.ReadAsStringAsync());
    }
}
