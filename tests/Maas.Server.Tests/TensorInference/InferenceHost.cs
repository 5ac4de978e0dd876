using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Server.TensorInference.Grpc;
using Maas.Server.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.TensorInference;

/// <summary>Starts the real server with gRPC on a free port and registers test models through the registry's HTTP API.</summary>
internal static class InferenceHost
{
    /// <summary>Starts a server with gRPC on (port 0) plus <paramref name="settings"/>; <paramref name="configure"/> changes services.</summary>
    public static Task<MaasTestServer> StartAsync(IReadOnlyDictionary<string, string?>? settings = null,
        Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? configure = null)
    {
        var all = new Dictionary<string, string?> { ["Maas:Inference:GrpcUrl"] = "http://127.0.0.1:0" };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
        {
            all[k] = v;
        }

        return MaasTestServer.StartAsync(settings: all, configure: configure);
    }

    /// <summary>The gRPC address of a server started by <see cref="StartAsync"/>.</summary>
    public static Uri GrpcAddress(this MaasTestServer server) =>
        server.Services.GetRequiredService<GrpcServer>().Address ?? throw new InvalidOperationException("gRPC is off");

    /// <summary>Creates a model (if new), sets its serving configuration and uploads <paramref name="onnx"/> as a new version.</summary>
    public static async Task<int> RegisterAsync(this MaasTestServer server, string name, byte[] onnx, object? config = null)
    {
        var created = await server.Client.PostAsJsonAsync("/api/v1/models", new { name });
        if (created.StatusCode != HttpStatusCode.Conflict)
        {
            await Ensure(created);
        }

        if (config is not null)
        {
            await Ensure(await server.Client.PutAsJsonAsync($"/api/v1/models/{name}/config", config));
        }

        var uploaded = await server.Client.PostAsync($"/api/v1/models/{name}/versions", MaasTestServer.Artifact(onnx, name + ".onnx"));
        await Ensure(uploaded);
        using var doc = JsonDocument.Parse(await uploaded.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("version").GetInt32();
    }

    private static async Task Ensure(HttpResponseMessage response)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>POSTs a JSON body and returns status and parsed body.</summary>
    public static async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> PostJsonAsync(this HttpClient client, string path, string json,
        CancellationToken cancellationToken = default)
    {
        var response = await client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        var body = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        return (response.StatusCode, body, response);
    }

    /// <summary>GETs and parses JSON.</summary>
    public static async Task<(HttpStatusCode Status, JsonElement Body)> GetJsonAsync(this HttpClient client, string path)
    {
        var response = await client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>A v2 JSON infer body with one input.</summary>
    public static string InferJson(string input, string datatype, long[] shape, JsonNode data, string? id = null, JsonObject? parameters = null, JsonArray? outputs = null)
    {
        var body = new JsonObject
        {
            ["inputs"] = new JsonArray(new JsonObject
            {
                ["name"] = input,
                ["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray()),
                ["datatype"] = datatype,
                ["data"] = data,
            }),
        };
        if (id is not null)
        {
            body["id"] = id;
        }

        if (parameters is not null)
        {
            body["parameters"] = parameters;
        }

        if (outputs is not null)
        {
            body["outputs"] = outputs;
        }

        return body.ToJsonString();
    }

    /// <summary>Builds a binary-extension body: JSON header then the raw tensors in order.</summary>
    public static HttpContent BinaryBody(string json, params byte[][] raws)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var all = new byte[header.Length + raws.Sum(r => r.Length)];
        header.CopyTo(all, 0);
        var offset = header.Length;
        foreach (var raw in raws)
        {
            raw.CopyTo(all, offset);
            offset += raw.Length;
        }

        var content = new ByteArrayContent(all);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.Add("Inference-Header-Content-Length", header.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return content;
    }

    /// <summary>Splits a binary-extension response into its JSON header and the bytes after it.</summary>
    public static async Task<(JsonElement Json, byte[] Binary)> ReadBinaryResponseAsync(HttpResponseMessage response)
    {
        var bytes = await response.Content.ReadAsByteArrayAsync();
        if (!response.Headers.TryGetValues("Inference-Header-Content-Length", out var values))
        {
            return (JsonDocument.Parse(bytes).RootElement.Clone(), []);
        }

        var length = int.Parse(values.Single(), System.Globalization.CultureInfo.InvariantCulture);
        return (JsonDocument.Parse(bytes.AsMemory(0, length)).RootElement.Clone(), bytes[length..]);
    }

    /// <summary>float32 values as little-endian bytes.</summary>
    public static byte[] Floats(IEnumerable<float> values)
    {
        var list = values.ToArray();
        var bytes = new byte[list.Length * 4];
        for (var i = 0; i < list.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), list[i]);
        }

        return bytes;
    }
}
