using System.Diagnostics;
using System.Text.Json;
using Maas.Core.TensorServing;
using Maas.Testing;

namespace Maas.Server.Tests.TensorInference;

/// <summary>A fact that needs node and npm on the PATH; skipped with the reason when they are absent.</summary>
public sealed class NodeFactAttribute : FactAttribute
{
    public NodeFactAttribute()
    {
        if (NodeTools.Find("node") is null || NodeTools.Find("npm") is null)
        {
            Skip = "needs node and npm on the PATH (to install @grpc/grpc-js, an independent gRPC client)";
        }
    }
}

internal static class NodeTools
{
    public static string? Find(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);

    public static async Task<(int Exit, string Output)> RunAsync(string file, string arguments, string workingDirectory, TimeSpan timeout)
    {
        var run = await ChildProcess.RunAsync(new ProcessStartInfo(file, arguments) { WorkingDirectory = workingDirectory }, timeout);
        return (run.ExitCode, run.Output + run.Error);
    }

    /// <summary>A temp folder with @grpc/grpc-js and @grpc/proto-loader installed; returns the path of <paramref name="script"/> written into it.</summary>
    public static async Task<string> GrpcJsFolderAsync(string script)
    {
        var folder = Path.Combine(Path.GetTempPath(), "maas-grpc-js-client");
        Directory.CreateDirectory(folder);

        // The folder is shared by this run's test classes (which run in parallel) and by other test runs on the machine:
        // one npm install at a time, and the packages count as there only once an install has finished (its marker
        // written), not as soon as another npm has begun to fill node_modules.
        using (await LockAsync(Path.Combine(folder, ".install.lock")))
        {
            var installed = Path.Combine(folder, ".installed");
            if (!File.Exists(installed))
            {
                var (exit, output) = await RunAsync(Find("npm")!,
                    "install --no-audit --no-fund --no-save --silent @grpc/grpc-js@1 @grpc/proto-loader@0", folder, TimeSpan.FromMinutes(3));
                Assert.True(exit == 0, "npm install @grpc/grpc-js @grpc/proto-loader failed (is the npm registry reachable?):\n" + output);
                File.WriteAllText(installed, "@grpc/grpc-js@1 @grpc/proto-loader@0\n");
            }
        }

        var name = "client-" + Guid.NewGuid().ToString("N")[..8] + ".js";
        File.WriteAllText(Path.Combine(folder, name), script);
        return Path.Combine(folder, name);
    }

    // An exclusive lock on a file, across processes (FileShare.None takes an exclusive flock on Linux), waited for until
    // free: another run's install takes at most its npm timeout, so a generous ceiling only bounds a stuck one.
    private static async Task<FileStream> LockAsync(string path) =>
        (await Conditions.ReadUntilAsync(() => Task.FromResult(TryLock(path)), held => held is not null, $"the lock {path} is free", TimeSpan.FromMinutes(10)))!;

    private static FileStream? TryLock(string path)
    {
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null; // another install holds it
        }
    }

    /// <summary>Triton's grpc_service.proto as the server ships it.</summary>
    public static string TritonProto => Path.Combine(Maas.Testing.SharedModels.RepoRoot, "src", "Maas.Server", "TensorInference", "Grpc", "grpc_service.proto");
}

/// <summary>The gRPC service checked with an independent client: @grpc/grpc-js with @grpc/proto-loader, driven by node.</summary>
public sealed class GrpcJsClientTests(ProtocolFixture fixture) : IClassFixture<ProtocolFixture>
{
    private const string Script = """
        const grpc = require('@grpc/grpc-js');
        const loader = require('@grpc/proto-loader');
        const [protoPath, address, model, key, bytesModel] = process.argv.slice(2);
        const md = new grpc.Metadata();
        md.set('authorization', 'Bearer ' + key);
        const def = loader.loadSync(protoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
        const service = grpc.loadPackageDefinition(def).inference.GRPCInferenceService;
        const client = new service(address, grpc.credentials.createInsecure());
        const call = (method, request) => new Promise(resolve =>
          client[method](request, md, (err, res) => resolve(err ? { code: err.code, details: err.details } : { code: 0, res })));
        const floats = values => { const b = Buffer.alloc(values.length * 4); values.forEach((v, i) => b.writeFloatLE(v, i * 4)); return b; };
        (async () => {
          const out = {};
          out.live = await call('ServerLive', {});
          out.metadata = await call('ModelMetadata', { name: model });
          const infer = await call('ModelInfer', {
            model_name: model, id: 'js-1',
            inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3] }],
            raw_input_contents: [floats([1.5, -2, 3, 4, 5, 6.25])] });
          if (infer.res) {
            const raw = infer.res.raw_output_contents[0];
            infer.values = Array.from({ length: raw.length / 4 }, (_, i) => raw.readFloatLE(i * 4));
            delete infer.res.raw_output_contents;
          }
          out.infer = infer;
          out.bad = await call('ModelInfer', {
            model_name: model, inputs: [{ name: 'nope', datatype: 'FP32', shape: [1, 3] }], raw_input_contents: [floats([1, 2, 3])] });
          out.missing = await call('ModelInfer', { model_name: 'no-such-model', inputs: [] });
          // The same service with gzip-compressed messages (grpc-js compresses the request; the server answers in kind).
          const zclient = new service(address, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 });
          const strings = Array.from({ length: 6 }, (_, i) => ('element ' + i + ' ').repeat(40));
          const packed = Buffer.concat(strings.flatMap(s => { const b = Buffer.from(s); const l = Buffer.alloc(4); l.writeUInt32LE(b.length); return [l, b]; }));
          const z = await new Promise(resolve => zclient.ModelInfer({
            model_name: bytesModel, inputs: [{ name: 'input', datatype: 'BYTES', shape: [2, 3] }], raw_input_contents: [packed] }, md,
            (err, res) => resolve(err ? { code: err.code, details: err.details } : { code: 0, res })));
          out.gzip = { code: z.code, details: z.details, same: z.res ? Buffer.compare(z.res.raw_output_contents[0], packed) === 0 : false };
          console.log(JSON.stringify(out));
          client.close();
          zclient.close();
        })();
        """;

    [NodeFact]
    public async Task An_independent_grpc_js_client_can_call_the_service()
    {
        var client = await NodeTools.GrpcJsFolderAsync(Script);
        var proto = NodeTools.TritonProto;
        var address = fixture.Server.GrpcAddress();
        var model = ProtocolFixture.IdentityModel(TensorDataType.FP32);
        var (code, text) = await NodeTools.RunAsync(NodeTools.Find("node")!, $"\"{client}\" \"{proto}\" {address.Host}:{address.Port} {model} {Support.MaasTestServer.AdminKey} " +
            $"{ProtocolFixture.IdentityModel(TensorDataType.Bytes)}", Path.GetDirectoryName(client)!, TimeSpan.FromMinutes(1));
        Assert.True(code == 0, text);
        var result = JsonDocument.Parse(text.Trim().Split('\n').Last()).RootElement;
        Assert.True(result.GetProperty("live").GetProperty("res").GetProperty("live").GetBoolean());
        Assert.Equal("onnxruntime_onnx", result.GetProperty("metadata").GetProperty("res").GetProperty("platform").GetString());
        var infer = result.GetProperty("infer");
        Assert.Equal(0, infer.GetProperty("code").GetInt32());
        Assert.Equal("js-1", infer.GetProperty("res").GetProperty("id").GetString());
        Assert.Equal("[1.5,-2,3,4,5,6.25]", infer.GetProperty("values").GetRawText());
        Assert.Equal(3, result.GetProperty("bad").GetProperty("code").GetInt32());
        Assert.Contains("unknown input 'nope'", result.GetProperty("bad").GetProperty("details").GetString());
        Assert.Equal(5, result.GetProperty("missing").GetProperty("code").GetInt32());
        var gzip = result.GetProperty("gzip");
        Assert.True(gzip.GetProperty("code").GetInt32() == 0, gzip.ToString());
        Assert.True(gzip.GetProperty("same").GetBoolean(), "the BYTES identity answer differs from what was sent, with gzip on");
    }
}

/// <summary>Auth refusals seen by grpc-js with Triton's proto: real gRPC statuses with a message, not a stream reset.</summary>
public sealed class GrpcJsRefusalTests(Tenancy.GrpcTenancyFixture fixture) : IClassFixture<Tenancy.GrpcTenancyFixture>
{
    private const string Script = """
        const grpc = require('@grpc/grpc-js');
        const loader = require('@grpc/proto-loader');
        const [protoPath, address, readKey, limitedKey] = process.argv.slice(2);
        const def = loader.loadSync(protoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
        const service = grpc.loadPackageDefinition(def).inference.GRPCInferenceService;
        const client = new service(address, grpc.credentials.createInsecure());
        const meta = key => { const md = new grpc.Metadata(); if (key) md.set('authorization', 'Bearer ' + key); return md; };
        const call = (method, request, key) => new Promise(resolve =>
          client[method](request, meta(key), (err, res) => resolve(err ? { code: err.code, details: err.details } : { code: 0 })));
        (async () => {
          const out = {};
          out.none = await call('ServerMetadata', {}, null);
          out.bad = await call('ModelInfer', { model_name: 'any', inputs: [] }, 'maas_not-a-key-anyone-issued-000000000');
          out.scope = await call('ModelInfer', { model_name: 'any', inputs: [] }, readKey);
          // One request per window: back-to-back calls reach the limit (a few tries in case a window turns over between them).
          for (let i = 0; i < 20 && !out.limited; i++) {
            const r = await call('ServerMetadata', {}, limitedKey);
            if (r.code !== 0) out.limited = r;
          }
          console.log(JSON.stringify(out));
          client.close();
        })();
        """;

    private const int PermissionDenied = 7;
    private const int ResourceExhausted = 8;
    private const int Unauthenticated = 16;

    [NodeFact]
    public async Task Refused_calls_end_with_a_grpc_status_and_a_message()
    {
        var tenant = await fixture.Host.CreateTenantAsync();
        var (_, read) = await fixture.Host.CreateKeyAsync(tenant, [Maas.Core.Tenancy.MaasScopes.ModelsRead]);
        var (_, limited) = await fixture.Host.CreateKeyAsync(tenant, [Maas.Core.Tenancy.MaasScopes.ModelsRead], limits: """{"requests_per_minute": 1}""");
        var client = await NodeTools.GrpcJsFolderAsync(Script);
        var address = fixture.Grpc;
        var (code, text) = await NodeTools.RunAsync(NodeTools.Find("node")!, $"\"{client}\" \"{NodeTools.TritonProto}\" {address.Host}:{address.Port} {read} {limited}",
            Path.GetDirectoryName(client)!, TimeSpan.FromMinutes(1));
        Assert.True(code == 0, text);
        var result = JsonDocument.Parse(text.Trim().Split('\n').Last()).RootElement;

        AssertStatus(result, "none", Unauthenticated, "API key");
        AssertStatus(result, "bad", Unauthenticated, "not valid");
        AssertStatus(result, "scope", PermissionDenied, "infer");
        AssertStatus(result, "limited", ResourceExhausted, "requests_per_minute = 1");
    }

    private static void AssertStatus(JsonElement result, string call, int status, string message)
    {
        Assert.True(result.TryGetProperty(call, out var r), $"{call}: no refusal in {result}");
        Assert.True(r.GetProperty("code").GetInt32() == status, $"{call}: expected gRPC status {status}, got {r}");
        Assert.Contains(message, r.GetProperty("details").GetString(), StringComparison.Ordinal);
    }
}
