using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Maas.Core.Llm;
using Maas.Server.OpenAi;

namespace Maas.Server.Ollama;

/// <summary>
/// What every Ollama route shares: the LLM routes' error handling with Ollama's error body <c>{"error": "message"}</c>
/// (a last NDJSON line of that shape once a stream started), and its JSON and NDJSON writing.
/// </summary>
internal static class OllamaEndpoint
{
    /// <summary>The content type of Ollama's streams: one JSON object per line.</summary>
    public const string NdjsonType = "application/x-ndjson";

    public static Task RunAsync(HttpContext context, ILoggerFactory loggers, Func<Task> handle) =>
        OpenAiEndpoint.RunAsync(context, loggers, handle, FailAsync);

    /// <summary>Ollama's error body.</summary>
    public static byte[] ErrorBody(string message)
    {
        var buffer = OpenAiJson.Build(json =>
        {
            json.WriteStartObject();
            json.WriteString("error", message);
            json.WriteEndObject();
        });
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes one JSON object as the whole response.</summary>
    public static async Task WriteJsonAsync(HttpContext context, Action<Utf8JsonWriter> write)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.Body.WriteAsync(OpenAiJson.Build(write).WrittenMemory, context.RequestAborted);
    }

    /// <summary>Writes one line of an NDJSON stream and sends it at once.</summary>
    public static async Task WriteLineAsync(HttpResponse response, Action<Utf8JsonWriter> write, CancellationToken cancellationToken)
    {
        var buffer = OpenAiJson.Build(write);
        buffer.Write("\n"u8);
        await response.Body.WriteAsync(buffer.WrittenMemory, cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    /// <summary>Starts an NDJSON stream (status 200, sent now).</summary>
    public static async Task StartStreamAsync(HttpResponse response, CancellationToken cancellationToken)
    {
        response.ContentType = NdjsonType;
        response.Headers.CacheControl = "no-cache";
        await response.StartAsync(cancellationToken);
    }

    /// <summary>A time as Ollama writes it: RFC 3339 in UTC with fractional seconds.</summary>
    public static string Timestamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    /// <summary>A duration in nanoseconds, as Ollama's timings are.</summary>
    public static long Nanoseconds(TimeSpan span) => span.Ticks * 100;

    private static async Task FailAsync(HttpContext context, LlmException error)
    {
        var response = context.Response;
        if (!response.HasStarted)
        {
            response.StatusCode = OpenAiErrors.Classify(error).Status;
            if (error.RetryAfter is { } retry)
            {
                response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            }

            response.ContentType = "application/json; charset=utf-8";
            await response.Body.WriteAsync(ErrorBody(error.Message), context.RequestAborted);
            return;
        }

        // Mid-stream the status is gone: the error is the stream's last line, as Ollama's own streams end on a failure.
        try
        {
            await response.Body.WriteAsync(ErrorBody(error.Message).Concat("\n"u8.ToArray()).ToArray(), context.RequestAborted);
            await response.Body.FlushAsync(context.RequestAborted);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // Nobody is listening any more.
        }
    }
}
