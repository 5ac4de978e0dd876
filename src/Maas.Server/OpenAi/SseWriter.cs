using System.Buffers;
using System.Text.Json;

namespace Maas.Server.OpenAi;

/// <summary>Server-Sent Events as OpenAI streams them: <c>data: {json}</c> per chunk, then <c>data: [DONE]</c>.</summary>
/// <remarks>
/// Each event is written whole into the response pipe and flushed once: one chunk (one send) per event, where a write
/// per piece would make three chunks of each token and as many wake-ups in the client.
/// </remarks>
internal sealed class SseWriter(HttpResponse response)
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();
    private Utf8JsonWriter? _json;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        response.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.StartAsync(cancellationToken);
    }

    public async Task WriteAsync(Action<Utf8JsonWriter> write, CancellationToken cancellationToken)
    {
        var pipe = response.BodyWriter;
        pipe.Write(DataPrefix);
        if (_json is null)
        {
            _json = new Utf8JsonWriter(pipe, OpenAiJson.WriterOptions);
        }
        else
        {
            _json.Reset(pipe);
        }

        write(_json);
        _json.Flush();
        pipe.Write(EventEnd);
        await pipe.FlushAsync(cancellationToken);
    }

    public async Task WriteRawAsync(byte[] json, CancellationToken cancellationToken)
    {
        var pipe = response.BodyWriter;
        pipe.Write(DataPrefix);
        pipe.Write(json);
        pipe.Write(EventEnd);
        await pipe.FlushAsync(cancellationToken);
    }

    public async Task DoneAsync(CancellationToken cancellationToken)
    {
        await response.BodyWriter.WriteAsync(Done, cancellationToken);
    }
}
