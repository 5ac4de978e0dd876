using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Client.Chat;

namespace Maas.Client;

/// <summary>OpenAI-compatible chat (LLMs).</summary>
public sealed partial class MaasClient
{
    /// <summary>Asks for a whole chat answer.</summary>
    public async Task<ChatResult> CompleteChatAsync(ChatRequest request, CancellationToken cancellationToken = default)
    {
        var answer = await SendAsync<JsonObject>(HttpMethod.Post, "v1/chat/completions", request with { Stream = null, StreamOptions = null }, cancellationToken);
        var choice = answer["choices"]?[0];
        return new ChatResult(
            (string?)answer["model"] ?? request.Model,
            (string?)choice?["message"]?["content"] ?? "",
            (string?)choice?["finish_reason"],
            answer["usage"]?.Deserialize<ChatUsage>(MaasJson.Options));
    }

    /// <summary>
    /// Streams a chat answer as it is generated (Server-Sent Events), one <see cref="ChatDelta"/> per chunk; an
    /// error the server sends after the stream started surfaces as a <see cref="MaasApiException"/>, and so does a stream
    /// that ends without its closing <c>[DONE]</c> (code <c>stream_incomplete</c>: a cut connection, or no chat stream).
    /// </summary>
    public async IAsyncEnumerable<ChatDelta> StreamChatAsync(ChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var body = request with { Stream = true, StreamOptions = new JsonObject { ["include_usage"] = true } };
        using var message = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = JsonBody(body) };
        message.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await SendRawAsync(message, cancellationToken);
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var reader = new StreamReader(stream);
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (!line.StartsWith("data:", StringComparison.Ordinal))
            {
                continue;
            }

            var data = line[5..].Trim();
            if (data == "[DONE]")
            {
                yield break;
            }

            var chunk = JsonNode.Parse(data)?.AsObject() ?? throw new MaasApiException(HttpStatusCode.OK, "invalid_response", "an empty stream event");
            if (chunk.ContainsKey("error"))
            {
                throw MaasApiException.Parse(HttpStatusCode.OK, data, "stream_error");
            }

            var choice = chunk["choices"] is JsonArray { Count: > 0 } choices ? choices[0] : null;
            var usage = chunk["usage"] is JsonObject u ? u.Deserialize<ChatUsage>(MaasJson.Options) : null;
            yield return new ChatDelta((string?)choice?["delta"]?["content"], (string?)choice?["finish_reason"], usage);
        }

        // Every stream ends with [DONE]: without it the connection was cut, or what answered streams no chat.
        throw new MaasApiException(response.StatusCode, "stream_incomplete",
            "the answer stream ended before its end ([DONE]): the connection was cut or the server sent no chat stream, so the answer may be cut short");
    }
}
