using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json;
using Google.Protobuf;
using Maas.Core.Tenancy;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.TensorInference;

/// <summary>
/// Triton's system shared memory extension against the real server: regions are real POSIX shared-memory objects
/// (files under /dev/shm) that the test writes and reads while the server copies tensors in and out of them.
/// </summary>
public sealed class SystemSharedMemoryTests(SystemSharedMemoryTests.Fixture fixture) : IClassFixture<SystemSharedMemoryTests.Fixture>
{
    private const int Regions = 4;

    public sealed class Fixture : IAsyncLifetime
    {
        private MaasTestServer? _server;
        private MaasTestServer? _disabled;

        /// <summary>A server with the extension on (and a low region limit).</summary>
        public MaasTestServer Server => _server ?? throw new InvalidOperationException("not started");

        /// <summary>A server with its defaults: the extension off.</summary>
        public MaasTestServer Disabled => _disabled ?? throw new InvalidOperationException("not started");

        public async Task InitializeAsync()
        {
            _server = await InferenceHost.StartAsync(new Dictionary<string, string?>
            {
                ["Maas:Inference:AllowClientSharedMemory"] = "true",
                ["Maas:Inference:MaxSharedMemoryRegionsPerTenant"] = Regions.ToString(System.Globalization.CultureInfo.InvariantCulture),
            });
            var pair = ProtocolFixture.PairModel();
            await Server.RegisterAsync("pair", pair);
            _disabled = await InferenceHost.StartAsync();
            await Disabled.RegisterAsync("pair", pair);
        }

        public async Task DisposeAsync()
        {
            if (_server is not null)
            {
                await _server.DisposeAsync();
            }

            if (_disabled is not null)
            {
                await _disabled.DisposeAsync();
            }
        }
    }

    private HttpClient Client => fixture.Server.Client;

    /// <summary>A POSIX shared-memory object of <paramref name="bytes"/> bytes (its file under /dev/shm), removed on dispose.</summary>
    private sealed class ShmObject : IDisposable
    {
        public ShmObject(int bytes)
        {
            Key = "/" + Names.Unique("maas-test-shm");
            Path = "/dev/shm" + Key;
            File.WriteAllBytes(Path, new byte[bytes]);
        }

        public string Key { get; }

        public string Path { get; }

        public void Write(int offset, ReadOnlySpan<byte> bytes)
        {
            using var f = new FileStream(Path, FileMode.Open, FileAccess.Write);
            f.Position = offset;
            f.Write(bytes);
        }

        public byte[] Read(int offset, int length) => File.ReadAllBytes(Path).AsSpan(offset, length).ToArray();

        public void Dispose() => File.Delete(Path);
    }

    private static async Task<HttpResponseMessage> RegisterAsync(HttpClient client, string region, string key, long offset, long byteSize) =>
        await client.PostAsync($"/v2/systemsharedmemory/region/{region}/register",
            Api.Json($$"""{"key": "{{key}}", "offset": {{offset}}, "byte_size": {{byteSize}}}"""));

    private static async Task<string> ErrorOfAsync(HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.BadRequest)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.GetProperty("error").GetString()!;
    }

    private static byte[] Floats(params float[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    [Fact]
    public async Task Inputs_and_outputs_pass_through_registered_regions()
    {
        using var shm = new ShmObject(4096);
        var region = Names.Unique("r");
        // The region starts 64 bytes into the object; the input lies 16 bytes into the region, the output 256.
        Assert.Equal(HttpStatusCode.OK, (await RegisterAsync(Client, region, shm.Key, 64, 1024)).StatusCode);
        var input = Floats(1, 2, 3, 4, 5, 6);
        shm.Write(64 + 16, input);

        var (status, body, _) = await Client.PostJsonAsync("/v2/models/pair/infer", $$"""
            {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3],
                         "parameters": {"shared_memory_region": "{{region}}", "shared_memory_offset": 16, "shared_memory_byte_size": 24} }],
             "outputs": [{"name": "negated", "parameters": {"shared_memory_region": "{{region}}", "shared_memory_offset": 256, "shared_memory_byte_size": 100} },
                         {"name": "copy"}]}
            """);
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        var outputs = body.GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!);
        var negated = outputs["negated"];
        Assert.False(negated.TryGetProperty("data", out _));
        Assert.Equal("[2,3]", negated.GetProperty("shape").GetRawText());
        var parameters = negated.GetProperty("parameters");
        Assert.Equal(region, parameters.GetProperty("shared_memory_region").GetString());
        Assert.Equal(24, parameters.GetProperty("shared_memory_byte_size").GetInt32());
        Assert.Equal(256, parameters.GetProperty("shared_memory_offset").GetInt32());
        Assert.Equal(Floats(-1, -2, -3, -4, -5, -6), shm.Read(64 + 256, 24));
        Assert.Equal([1f, 2, 3, 4, 5, 6], outputs["copy"].GetProperty("data").EnumerateArray().Select(v => v.GetSingle()));

        // The client writes the next input into the same region; the server reads what is there now.
        shm.Write(64 + 16, Floats(7, 8, 9, 10, 11, 12));
        var (again, answer, _) = await Client.PostJsonAsync("/v2/models/pair/infer", $$"""
            {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3],
                         "parameters": {"shared_memory_region": "{{region}}", "shared_memory_offset": 16, "shared_memory_byte_size": 24} }],
             "outputs": [{"name": "copy", "parameters": {"shared_memory_region": "{{region}}", "shared_memory_byte_size": 24} }]}
            """);
        Assert.True(again == HttpStatusCode.OK, answer.ToString());
        Assert.False(answer.GetProperty("outputs")[0].GetProperty("parameters").TryGetProperty("shared_memory_offset", out _));
        Assert.Equal(Floats(7, 8, 9, 10, 11, 12), shm.Read(64, 24));

        var (statusCode, regions) = await Client.GetJsonAsync($"/v2/systemsharedmemory/region/{region}/status");
        Assert.Equal(HttpStatusCode.OK, statusCode);
        var listed = Assert.Single(regions.EnumerateArray());
        Assert.Equal((region, shm.Key, 64, 1024),
            (listed.GetProperty("name").GetString(), listed.GetProperty("key").GetString(), listed.GetProperty("offset").GetInt32(), listed.GetProperty("byte_size").GetInt32()));
        var (_, metadata) = await Client.GetJsonAsync("/v2");
        Assert.Contains("system_shared_memory", metadata.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()));

        Assert.Equal(HttpStatusCode.OK, (await Client.PostAsync($"/v2/systemsharedmemory/region/{region}/unregister", null)).StatusCode);
        var (_, after, _) = await Client.PostJsonAsync("/v2/models/pair/infer", $$"""
            {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "parameters": {"shared_memory_region": "{{region}}", "shared_memory_byte_size": 24} }]}
            """);
        Assert.Contains($"no shared memory region '{region}' is registered", after.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Bad_registrations_are_refused_with_the_reason()
    {
        using var shm = new ShmObject(1000);
        Assert.Contains("no shared memory object '/maas-no-such-object' exists",
            await ErrorOfAsync(await RegisterAsync(Client, Names.Unique("r"), "/maas-no-such-object", 0, 10)));
        Assert.Contains("is not a POSIX shared memory object name",
            await ErrorOfAsync(await RegisterAsync(Client, Names.Unique("r"), "/../etc/passwd", 0, 10)));
        Assert.Contains("is past the end of",
            await ErrorOfAsync(await RegisterAsync(Client, Names.Unique("r"), shm.Key, 500, 501)));
        Assert.Contains("byte_size positive",
            await ErrorOfAsync(await RegisterAsync(Client, Names.Unique("r"), shm.Key, 0, 0)));
        Assert.Contains("needs \"key\"", await ErrorOfAsync(await Client.PostAsync(
            $"/v2/systemsharedmemory/region/{Names.Unique("r")}/register", Api.Json("""{"byte_size": 10}"""))));

        var link = "/dev/shm/" + Names.Unique("maas-test-link");
        File.CreateSymbolicLink(link, shm.Path);
        try
        {
            Assert.Contains("is a symbolic link", await ErrorOfAsync(await RegisterAsync(Client, Names.Unique("r"), link["/dev/shm".Length..], 0, 10)));
        }
        finally
        {
            File.Delete(link);
        }

        var region = Names.Unique("r");
        Assert.Equal(HttpStatusCode.OK, (await RegisterAsync(Client, region, shm.Key, 0, 1000)).StatusCode);
        try
        {
            Assert.Contains("is already registered", await ErrorOfAsync(await RegisterAsync(Client, region, shm.Key, 0, 10)));
        }
        finally
        {
            await Client.PostAsync($"/v2/systemsharedmemory/region/{region}/unregister", null);
        }
    }

    [Fact]
    public async Task Bad_tensor_references_are_refused_before_the_model_runs()
    {
        using var shm = new ShmObject(1024);
        var region = Names.Unique("r");
        Assert.Equal(HttpStatusCode.OK, (await RegisterAsync(Client, region, shm.Key, 0, 1024)).StatusCode);
        try
        {
            async Task<string> InferErrorAsync(string input, string outputs = "")
            {
                var (status, body, _) = await Client.PostJsonAsync("/v2/models/pair/infer",
                    $$"""{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], {{input}}}] {{outputs}} }""");
                Assert.True(status == HttpStatusCode.BadRequest, body.ToString());
                return body.GetProperty("error").GetString()!;
            }

            Assert.Contains("must be given together",
                await InferErrorAsync($$"""  "parameters": {"shared_memory_region": "{{region}}"}"""));
            Assert.Contains("shared_memory_byte_size is 20 bytes but FP32 shape [2,3] needs 24 bytes",
                await InferErrorAsync($$"""  "parameters": {"shared_memory_region": "{{region}}", "shared_memory_byte_size": 20}"""));
            Assert.Contains("is past the end of shared memory region",
                await InferErrorAsync($$"""  "parameters": {"shared_memory_region": "{{region}}", "shared_memory_byte_size": 24, "shared_memory_offset": 1010}"""));
            Assert.Contains("has \"data\" or binary_data_size too",
                await InferErrorAsync($$"""  "data": [1, 2, 3, 4, 5, 6], "parameters": {"shared_memory_region": "{{region}}", "shared_memory_byte_size": 24}"""));
            Assert.Contains("\"shared_memory_byte_size\" must be a non-negative integer",
                await InferErrorAsync($$"""  "parameters": {"shared_memory_region": "{{region}}", "shared_memory_byte_size": -24}"""));
            Assert.Contains("more than its shared_memory_byte_size of 8", await InferErrorAsync(
                """  "data": [1, 2, 3, 4, 5, 6]""",
                $$""", "outputs": [{"name": "copy", "parameters": {"shared_memory_region": "{{region}}", "shared_memory_byte_size": 8} }]"""));

            // An object cut short after it was registered: the read comes back short, the call gets a 400, the server lives.
            using (var f = new FileStream(shm.Path, FileMode.Open, FileAccess.Write))
            {
                f.SetLength(10);
            }

            Assert.Contains("the object is shorter than when it was registered",
                await InferErrorAsync($$"""  "parameters": {"shared_memory_region": "{{region}}", "shared_memory_byte_size": 24}"""));
            Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync("/v2/health/live")).StatusCode);
        }
        finally
        {
            await Client.PostAsync($"/v2/systemsharedmemory/region/{region}/unregister", null);
        }
    }

    [Fact]
    public async Task Regions_belong_to_the_tenant_that_registered_them_and_are_limited_per_tenant()
    {
        using var shm = new ShmObject(64);
        var admin = Client;
        var tenant = await fixture.Server.NewTenantAsync();
        async Task<HttpClient> KeyAsync(string scope) => fixture.Server.CreateClient(await fixture.Server.NewKeyAsync(tenant, [scope]));

        var other = await KeyAsync(MaasScopes.Infer);
        var reader = await KeyAsync(MaasScopes.ModelsRead);
        var name = Names.Unique("r");
        Assert.Equal(HttpStatusCode.OK, (await RegisterAsync(admin, name, shm.Key, 0, 64)).StatusCode);
        try
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await RegisterAsync(reader, Names.Unique("r"), shm.Key, 0, 64)).StatusCode);
            var (_, seen) = await other.GetJsonAsync("/v2/systemsharedmemory/status");
            Assert.Empty(seen.EnumerateArray());
            Assert.Contains($"no shared memory region '{name}'", await ErrorOfAsync(await other.GetAsync($"/v2/systemsharedmemory/region/{name}/status")));

            // The same name is free in the other tenant, and its unregister-all leaves the first tenant's region.
            Assert.Equal(HttpStatusCode.OK, (await RegisterAsync(other, name, shm.Key, 0, 32)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await other.PostAsync("/v2/systemsharedmemory/unregister", null)).StatusCode);
            var (_, mine) = await admin.GetJsonAsync($"/v2/systemsharedmemory/region/{name}/status");
            Assert.Equal(64, Assert.Single(mine.EnumerateArray()).GetProperty("byte_size").GetInt32());

            for (var i = 0; i < Regions; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await RegisterAsync(other, $"r{i}", shm.Key, 0, 8)).StatusCode);
            }

            var refused = await RegisterAsync(other, "one-more", shm.Key, 0, 8);
            using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Contains("Maas:Inference:MaxSharedMemoryRegionsPerTenant", error.RootElement.GetProperty("error").GetString());
            Assert.Equal(Regions, error.RootElement.GetProperty("limit_value").GetInt32());
            var (_, listed) = await other.GetJsonAsync("/v2/systemsharedmemory/status");
            Assert.Equal(Enumerable.Range(0, Regions).Select(i => $"r{i}"), listed.EnumerateArray().Select(r => r.GetProperty("name").GetString()));
        }
        finally
        {
            await other.PostAsync("/v2/systemsharedmemory/unregister", null);
            await admin.PostAsync($"/v2/systemsharedmemory/region/{name}/unregister", null);
        }
    }

    [Fact]
    public async Task Grpc_registers_regions_and_passes_tensors_through_them()
    {
        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        using var shm = new ShmObject(512);
        var region = Names.Unique("g");
        var registered = await grpc.CallAsync("SystemSharedMemoryRegister",
            new SystemSharedMemoryRegisterRequest { Name = region, Key = shm.Key, Offset = 0, ByteSize = 512 }, SystemSharedMemoryRegisterResponse.Parser);
        Assert.True(registered.Status == 0, registered.Message);
        try
        {
            var status = (await grpc.CallAsync("SystemSharedMemoryStatus", new SystemSharedMemoryStatusRequest { Name = region }, SystemSharedMemoryStatusResponse.Parser)).Single;
            Assert.Equal((shm.Key, 512UL), (status.Regions[region].Key, status.Regions[region].ByteSize));
            var metadata = (await grpc.CallAsync("ServerMetadata", new ServerMetadataRequest(), ServerMetadataResponse.Parser)).Single;
            Assert.Contains("system_shared_memory", metadata.Extensions);

            // x from the region at 8; "negated" into the region at 128, "copy" as raw contents, in the outputs' order.
            shm.Write(8, Floats(1, 2, 3));
            var request = new ModelInferRequest { ModelName = "pair" };
            var input = new ModelInferRequest.Types.InferInputTensor { Name = "x", Datatype = "FP32" };
            input.Shape.Add([1, 3]);
            input.Parameters["shared_memory_region"] = new InferParameter { StringParam = region };
            input.Parameters["shared_memory_offset"] = new InferParameter { Int64Param = 8 };
            input.Parameters["shared_memory_byte_size"] = new InferParameter { Int64Param = 12 };
            request.Inputs.Add(input);
            var negated = new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "negated" };
            negated.Parameters["shared_memory_region"] = new InferParameter { StringParam = region };
            negated.Parameters["shared_memory_offset"] = new InferParameter { Int64Param = 128 };
            negated.Parameters["shared_memory_byte_size"] = new InferParameter { Int64Param = 64 };
            request.Outputs.Add(negated);
            request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "copy" });
            var result = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
            Assert.True(result.Status == 0, result.Message);
            var response = result.Single;
            Assert.Equal(["negated", "copy"], response.Outputs.Select(o => o.Name));
            Assert.Equal(region, response.Outputs[0].Parameters["shared_memory_region"].StringParam);
            Assert.Equal(12, response.Outputs[0].Parameters["shared_memory_byte_size"].Int64Param);
            Assert.Equal(2, response.RawOutputContents.Count);
            Assert.Empty(response.RawOutputContents[0]);
            Assert.Equal(Floats(1, 2, 3), response.RawOutputContents[1].ToByteArray());
            Assert.Equal(Floats(-1, -2, -3), shm.Read(128, 12));

            // raw_input_contents name only the inputs outside shared memory.
            request.RawInputContents.Add(ByteString.CopyFrom(Floats(1, 2, 3)));
            var refused = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
            Assert.Equal(3, refused.Status); // INVALID_ARGUMENT
            Assert.Contains("inputs that are not in shared memory", refused.Message);
        }
        finally
        {
            var unregistered = await grpc.CallAsync("SystemSharedMemoryUnregister", new SystemSharedMemoryUnregisterRequest { Name = region },
                SystemSharedMemoryUnregisterResponse.Parser);
            Assert.Equal(0, unregistered.Status);
        }

        var gone = await grpc.CallAsync("SystemSharedMemoryStatus", new SystemSharedMemoryStatusRequest { Name = region }, SystemSharedMemoryStatusResponse.Parser);
        Assert.Equal(3, gone.Status);
        Assert.Contains($"no shared memory region '{region}'", gone.Message);
    }

    [Fact]
    public async Task A_server_without_the_option_refuses_regions_and_does_not_list_the_extension()
    {
        using var shm = new ShmObject(64);
        var client = fixture.Disabled.Client;
        Assert.Contains("Maas:Inference:AllowClientSharedMemory=true", await ErrorOfAsync(await RegisterAsync(client, "r", shm.Key, 0, 64)));
        Assert.Contains("Maas:Inference:AllowClientSharedMemory=true", await ErrorOfAsync(await client.GetAsync("/v2/systemsharedmemory/status")));
        var (_, body, _) = await client.PostJsonAsync("/v2/models/pair/infer",
            """{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": 24}}]}""");
        Assert.Contains("system shared memory is off on this server", body.GetProperty("error").GetString());
        var (_, metadata) = await client.GetJsonAsync("/v2");
        Assert.DoesNotContain("system_shared_memory", metadata.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()));
        using var grpc = new GrpcTestClient(fixture.Disabled.GrpcAddress());
        var refused = await grpc.CallAsync("SystemSharedMemoryRegister",
            new SystemSharedMemoryRegisterRequest { Name = "r", Key = shm.Key, ByteSize = 64 }, SystemSharedMemoryRegisterResponse.Parser);
        Assert.Equal(3, refused.Status);
        Assert.Contains("Maas:Inference:AllowClientSharedMemory=true", refused.Message);
        Assert.DoesNotContain("system_shared_memory", (await grpc.CallAsync("ServerMetadata", new ServerMetadataRequest(), ServerMetadataResponse.Parser)).Single.Extensions);
    }
}
