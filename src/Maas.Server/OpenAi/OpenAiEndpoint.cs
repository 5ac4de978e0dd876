using Maas.Core.Llm;

namespace Maas.Server.OpenAi;

/// <summary>The error handling every OpenAI route shares: OpenAI's error body before the response starts, an SSE error event after.</summary>
internal static class OpenAiEndpoint
{
    public static Task RunAsync(HttpContext context, ILoggerFactory loggers, Func<Task> handle) => RunAsync(context, loggers, handle, FailAsync);

    /// <summary>
    /// Runs <paramref name="handle"/> with the LLM routes' error handling, answering a failure through
    /// <paramref name="fail"/> (the route's own error format): the caller's mistakes as they are, the server's own
    /// failures logged and hidden behind the request id, a caller that went away not at all.
    /// </summary>
    public static async Task RunAsync(HttpContext context, ILoggerFactory loggers, Func<Task> handle, Func<HttpContext, LlmException, Task> fail)
    {
        try
        {
            await handle();
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The caller went away; its sequence was freed by the engine.
        }
        catch (LlmException ex) when (ex.Kind == LlmErrorKind.Internal || (ex.Kind == LlmErrorKind.Unavailable && ex.InnerException is not null))
        {
            // The server's own failure: its details (engine messages, file paths) go to the log, the caller gets the request id.
            loggers.CreateLogger("Maas.OpenAi").LogError(ex, "{Path} failed (request {RequestId})", context.Request.Path, context.TraceIdentifier);
            var what = ex.Kind == LlmErrorKind.Internal ? "the server failed to answer" : "the model could not be served";
            await fail(context, new LlmException(ex.Kind, Hidden(context, what), ex.Param, ex.Code) { RetryAfter = ex.RetryAfter });
        }
        catch (LlmException ex)
        {
            await fail(context, ex);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException && !context.RequestAborted.IsCancellationRequested)
        {
            loggers.CreateLogger("Maas.OpenAi").LogError(ex, "{Path} failed (request {RequestId})", context.Request.Path, context.TraceIdentifier);
            await fail(context, new LlmException(LlmErrorKind.Internal, Hidden(context, "the server failed to answer"), code: "internal_error"));
        }
    }

    private static string Hidden(HttpContext context, string what) => $"{what} (request {context.TraceIdentifier}); the server log has the details";

    private static async Task FailAsync(HttpContext context, LlmException error)
    {
        if (!context.Response.HasStarted)
        {
            await OpenAiErrors.WriteAsync(context, error);
            return;
        }

        // Mid-stream: the status is gone, so the error travels as an event, like OpenAI's own streams do.
        try
        {
            await new SseWriter(context.Response).WriteRawAsync(OpenAiErrors.Body(error), context.RequestAborted);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // Nobody is listening any more.
        }
    }
}
