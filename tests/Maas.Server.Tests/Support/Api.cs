using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Testing;

namespace Maas.Server.Tests.Support;

/// <summary>Small helpers for calling the management API and checking its answers.</summary>
public static class Api
{
    /// <summary>A JSON request body.</summary>
    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>Checks the status and returns the parsed JSON body (the body is in the failure message).</summary>
    public static async Task<JsonNode> JsonAsync(this HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {(int)expected} {expected}, got {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text) ?? throw new InvalidOperationException("empty JSON body");
    }

    /// <summary>Checks an error answer: the status, the stable code, a message, and no stack trace.</summary>
    public static async Task<JsonNode> ErrorAsync(this HttpResponseMessage response, HttpStatusCode expected, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {(int)expected} {expected}, got {(int)response.StatusCode}: {text}");
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.ToString());
        var error = JsonNode.Parse(text)?["error"] ?? throw new InvalidOperationException("no error object: " + text);
        Assert.Equal(code, (string?)error["code"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)error["message"]), text);
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
        return error;
    }

    /// <summary>Creates a model and returns its name.</summary>
    public static async Task<string> CreateModelAsync(this HttpClient client, string? name = null, string extra = "")
    {
        name ??= Names.Unique();
        using var response = await client.PostAsync("api/v1/models", Json($$"""{"name": "{{name}}"{{extra}}}"""));
        await response.JsonAsync(HttpStatusCode.Created);
        return name;
    }

    /// <summary>Uploads a version as a raw body and returns the created version.</summary>
    public static async Task<JsonNode> UploadAsync(this HttpClient client, string model, byte[] content, string fileName, string query = "")
    {
        using var response = await client.PostAsync($"api/v1/models/{model}/versions{query}", MaasTestServer.Artifact(content, fileName));
        return await response.JsonAsync(HttpStatusCode.Created);
    }

    /// <summary>Waits until a job ends and returns it; <paramref name="jobs"/> is the route its kind of job lives under.</summary>
    public static Task<JsonNode> WaitForJobAsync(this HttpClient client, string id, TimeSpan? timeout = null, string jobs = "api/v1/jobs") =>
        Conditions.ReadUntilAsync(
            async () =>
            {
                using var response = await client.GetAsync($"{jobs}/{id}");
                return await response.JsonAsync(HttpStatusCode.OK);
            },
            job => (string?)job["status"] is "succeeded" or "failed" or "cancelled",
            $"job {id} ends",
            timeout,
            job => job.ToJsonString());
}
