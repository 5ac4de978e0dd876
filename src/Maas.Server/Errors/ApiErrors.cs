using System.Text.Json;
using Maas.Core.Registry;
using Microsoft.Extensions.Options;

namespace Maas.Server.Errors;

/// <summary>
/// The management API's error body, <c>{"error": {"code": "...", "message": "...", ...details}}</c>: a stable code
/// for programs, a sentence for people, 4xx for the caller's mistakes and 5xx (without internals) for ours.
/// </summary>
public static class ApiErrors
{
    /// <summary>The status a registry failure kind maps to.</summary>
    public static int StatusOf(RegistryErrorKind kind) => kind switch
    {
        RegistryErrorKind.Invalid => StatusCodes.Status400BadRequest,
        RegistryErrorKind.NotFound => StatusCodes.Status404NotFound,
        RegistryErrorKind.Conflict => StatusCodes.Status409Conflict,
        RegistryErrorKind.TooLarge => StatusCodes.Status413PayloadTooLarge,
        RegistryErrorKind.Busy => StatusCodes.Status429TooManyRequests,
        RegistryErrorKind.InsufficientStorage => StatusCodes.Status507InsufficientStorage,
        _ => StatusCodes.Status503ServiceUnavailable,
    };

    /// <summary>The error body as a result.</summary>
    public static IResult Result(int status, string code, string message, IReadOnlyDictionary<string, object?>? details = null) =>
        Results.Json(Body(code, message, details), RegistryJson.Options, "application/json", status);

    /// <summary>Writes the error body to the response (for code that is not an endpoint handler).</summary>
    public static Task WriteAsync(HttpContext context, int status, string code, string message, IReadOnlyDictionary<string, object?>? details = null)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(Body(code, message, details), RegistryJson.Options, "application/json", context.RequestAborted);
    }

    private static Dictionary<string, object> Body(string code, string message, IReadOnlyDictionary<string, object?>? details)
    {
        var error = new Dictionary<string, object?> { ["code"] = code, ["message"] = message };
        if (details is not null)
        {
            foreach (var (key, value) in details)
            {
                error.TryAdd(key, value);
            }
        }

        return new Dictionary<string, object> { ["error"] = error };
    }

    /// <summary>
    /// Turns what a handler threw into the error body: <see cref="ApiException"/>, <see cref="RegistryException"/> and
    /// Kestrel's bad-request errors; anything else is logged and answered 500 without details. A request body's JSON is
    /// checked where it is read (400 invalid_json there), so a <see cref="JsonException"/> reaching this point is the
    /// server's own stored data it cannot read: a 500 with the log, not the caller's mistake.
    /// Null when the client is gone (nothing to answer).
    /// </summary>
    public static IResult? FromException(Exception exception, HttpContext context, ILogger logger)
    {
        switch (exception)
        {
            case ApiException api:
                return Result(api.Status, api.Code, api.Message, api.Details);
            case RegistryException { Kind: RegistryErrorKind.Busy } busy:
                context.Response.Headers.RetryAfter = busy.Details.TryGetValue("retry_after_seconds", out var retry) && retry is not null
                    ? Convert.ToString(retry, System.Globalization.CultureInfo.InvariantCulture)
                    : "1";
                return Result(StatusOf(busy.Kind), busy.Code, busy.Message, busy.Details);
            case RegistryException registry:
                return Result(StatusOf(registry.Kind), registry.Code, registry.Message, registry.Details);
            case BadHttpRequestException bad when bad.StatusCode == StatusCodes.Status413PayloadTooLarge:
                return Result(bad.StatusCode, "request_too_large", "the request body is larger than the server accepts on this route");
            case BadHttpRequestException bad:
                return context.RequestAborted.IsCancellationRequested ? null : Result(bad.StatusCode, "bad_request", bad.Message);
            case OperationCanceledException or IOException when context.RequestAborted.IsCancellationRequested:
                return null;
            default:
                logger.LogError(exception, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
                return Result(
                    StatusCodes.Status500InternalServerError,
                    "internal_error",
                    $"an internal error occurred (request {context.TraceIdentifier}); the server log has the details");
        }
    }

    /// <summary>
    /// Answers every exception of the group's endpoints with the error body, and hands their requests the API's options
    /// (<see cref="Registry.ApiOptions"/>, as a request feature: the JSON body limit <see cref="Registry.ApiRequests"/> reads).
    /// </summary>
    public static TBuilder WithApiErrors<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.AddEndpointFilterFactory((factory, next) =>
        {
            var logger = factory.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("Maas.Server.Errors");
            var options = factory.ApplicationServices.GetRequiredService<IOptions<Registry.ApiOptions>>().Value;
            return async invocation =>
            {
                invocation.HttpContext.Features.Set(options);
                try
                {
                    return await next(invocation);
                }
                catch (Exception e) when (!invocation.HttpContext.Response.HasStarted)
                {
                    return FromException(e, invocation.HttpContext, logger) ?? Results.Empty;
                }
            };
        });
        return builder;
    }

    /// <summary>Answers requests to unknown routes under <paramref name="prefix"/> with a JSON 404 (route_not_found).</summary>
    public static IEndpointRouteBuilder MapApiFallback(this IEndpointRouteBuilder app, string prefix = "/api/v1")
    {
        app.MapFallback(prefix + "/{**rest}", (HttpContext context) => Result(
            StatusCodes.Status404NotFound,
            "route_not_found",
            $"no route {context.Request.Method} {context.Request.Path}; see docs/api.md"));
        return app;
    }
}
