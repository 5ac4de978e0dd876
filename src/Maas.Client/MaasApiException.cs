using System.Net;
using System.Text.Json;

namespace Maas.Client;

/// <summary>An error answer from the server: the HTTP status, the server's stable code and its message.</summary>
public sealed class MaasApiException(HttpStatusCode status, string code, string message, JsonElement? body = null) : Exception(message)
{
    /// <summary>The HTTP status.</summary>
    public HttpStatusCode Status { get; } = status;

    /// <summary>The server's error code (<c>model_not_found</c>, ...); <c>http_NNN</c> when the answer had none.</summary>
    public string Code { get; } = code;

    /// <summary>The whole error body when it was JSON (extra fields such as <c>limit_bytes</c> or <c>offset</c>).</summary>
    public JsonElement? Body { get; } = body;

    /// <summary>Reads an error answer in any of the server's three shapes (management, OpenAI, Open Inference Protocol).</summary>
    public static async Task<MaasApiException> FromResponseAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = response.StatusCode;
        var fallbackCode = $"http_{(int)status}";
        string text;
        try
        {
            text = await response.Content.ReadAsStringAsync(cancellationToken);
        }
        catch (HttpRequestException)
        {
            text = "";
        }

        return Parse(status, text, fallbackCode, response.ReasonPhrase);
    }

    /// <summary>Reads an error from a JSON text (also the <c>data: {"error": ...}</c> event of a stream).</summary>
    public static MaasApiException Parse(HttpStatusCode status, string text, string? fallbackCode = null, string? reason = null)
    {
        fallbackCode ??= $"http_{(int)status}";
        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement.Clone();
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out var error))
            {
                if (error.ValueKind == JsonValueKind.String)
                {
                    // Open Inference Protocol and Ollama: {"error": "message"}; under /v2 with MaaS's "code" beside it
                    // where the refusal was authentication's or a limit's.
                    var code = root.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : fallbackCode;
                    return new MaasApiException(status, code, error.GetString() ?? "", root);
                }

                if (error.ValueKind == JsonValueKind.Object)
                {
                    var code = error.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : fallbackCode;
                    var message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : text;
                    return new MaasApiException(status, code, message, root);
                }
            }

            return new MaasApiException(status, fallbackCode, OneLine(text, reason), root);
        }
        catch (JsonException)
        {
            return new MaasApiException(status, fallbackCode, OneLine(text, reason));
        }
    }

    private static string OneLine(string text, string? reason)
    {
        var line = text.ReplaceLineEndings(" ").Trim();
        if (line.Length == 0)
        {
            return reason ?? "the server answered without a body";
        }

        return line.Length > 300 ? line[..300] + "..." : line;
    }
}
