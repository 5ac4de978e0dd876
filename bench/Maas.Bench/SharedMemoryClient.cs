using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Maas.Bench;

/// <summary>
/// A REST infer client that passes the input and every output through one registered system shared-memory region
/// (Triton's system shared memory extension), as perf_analyzer's --shared-memory=system does: the input is written into
/// the object once, each client has its own window for the outputs, and the request and response carry JSON only.
/// </summary>
internal sealed class SharedMemoryClient : IDisposable
{
    private readonly string _path;
    private readonly HttpClient _admin;
    private readonly string _region;
    private readonly RawHttpClient[] _clients;

    private SharedMemoryClient(string path, HttpClient admin, string region, RawHttpClient[] clients)
    {
        _path = path;
        _admin = admin;
        _region = region;
        _clients = clients;
    }

    /// <summary>Creates the object under /dev/shm, registers it with <paramref name="server"/> and builds each client's request.</summary>
    public static async Task<SharedMemoryClient> StartAsync(ServerProcess server, string model, string input, long[] shape, byte[] data, int clients)
    {
        // The outputs' sizes from the model's metadata (FP32, fixed shapes: what this benchmark's models have).
        using var metadata = JsonDocument.Parse(await server.Client.GetStringAsync($"v2/models/{model}"));
        var outputs = metadata.RootElement.GetProperty("outputs").EnumerateArray()
            .Select(o => (Name: o.GetProperty("name").GetString()!, Bytes: 4 * o.GetProperty("shape").EnumerateArray().Aggregate(1L, (n, d) => n * Math.Max(d.GetInt64(), 1))))
            .ToArray();
        var perClient = outputs.Sum(o => o.Bytes);
        var key = $"/maas-bench-{Environment.ProcessId}-{model}";
        var path = "/dev/shm" + key;
        await using (var file = new FileStream(path, FileMode.Create, FileAccess.Write))
        {
            file.SetLength(data.Length + (perClient * clients));
            file.Write(data);
        }

        var region = "bench-" + model;
        var registered = await server.Client.PostAsync($"v2/systemsharedmemory/region/{region}/register", new StringContent(
            $$"""{"key": "{{key}}", "offset": 0, "byte_size": {{data.Length + (perClient * clients)}}}""", Encoding.UTF8, "application/json"));
        if (!registered.IsSuccessStatusCode)
        {
            File.Delete(path);
            throw new InvalidOperationException($"registering the shared memory region failed: {(int)registered.StatusCode} {await registered.Content.ReadAsStringAsync()}");
        }

        var headers = new Dictionary<string, string> { ["Authorization"] = "Bearer " + ServerProcess.AdminKey };
        var calls = new RawHttpClient[clients];
        for (var c = 0; c < clients; c++)
        {
            var offset = data.Length + (perClient * c);
            var requested = new List<string>();
            foreach (var (name, bytes) in outputs)
            {
                requested.Add(string.Create(CultureInfo.InvariantCulture,
                    $$$"""{"name":"{{{name}}}","parameters":{"shared_memory_region":"{{{region}}}","shared_memory_offset":{{{offset}}},"shared_memory_byte_size":{{{bytes}}}}}"""));
                offset += bytes;
            }

            var body = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                $$$"""{"inputs":[{"name":"{{{input}}}","shape":""" +
                $$$"""[{{{string.Join(',', shape)}}}],"datatype":"FP32","parameters":{"shared_memory_region":"{{{region}}}","shared_memory_byte_size":{{{data.Length}}}}}]""" +
                $$$""","outputs":[{{{string.Join(',', requested)}}}]}"""));
            calls[c] = new RawHttpClient(server.Http, $"/v2/models/{model}/infer", "application/json", body, headers, clients: 1);
        }

        return new SharedMemoryClient(path, server.Client, region, calls);
    }

    /// <summary>One call of client <paramref name="client"/> (each has its own output window and connection).</summary>
    public Task<bool> CallAsync(int client, CancellationToken cancellationToken) => _clients[client].CallAsync(0, cancellationToken);

    public void Dispose()
    {
        foreach (var c in _clients)
        {
            c.Dispose();
        }

        try
        {
            _admin.PostAsync($"v2/systemsharedmemory/region/{_region}/unregister", null).GetAwaiter().GetResult();
        }
        catch (HttpRequestException)
        {
            // The server is already gone: its regions went with it.
        }

        File.Delete(_path);
    }
}
