using Maas.Core.Registry;
using Maas.Core.TensorServing;

namespace Maas.Server.TensorInference;

/// <summary>Maps serving and registry failures to HTTP statuses and gRPC codes.</summary>
internal static class InferenceErrors
{
    /// <summary>The HTTP status for a failure kind.</summary>
    public static int HttpStatus(InferenceErrorKind kind) => kind switch
    {
        InferenceErrorKind.InvalidInput => StatusCodes.Status400BadRequest,
        InferenceErrorKind.NotFound => StatusCodes.Status404NotFound,
        InferenceErrorKind.QueueFull => StatusCodes.Status429TooManyRequests,
        InferenceErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        InferenceErrorKind.Timeout => StatusCodes.Status504GatewayTimeout,
        InferenceErrorKind.Cancelled => 499,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>Turns registry failures met while resolving a model into serving failures.</summary>
    public static InferenceException FromRegistry(RegistryException ex) => new(
        ex.Kind switch
        {
            RegistryErrorKind.NotFound => InferenceErrorKind.NotFound,
            RegistryErrorKind.Invalid => InferenceErrorKind.InvalidInput,
            RegistryErrorKind.Unavailable => InferenceErrorKind.Unavailable,
            _ => InferenceErrorKind.InvalidInput,
        },
        ex.Message,
        ex);

    /// <summary>An invalid-input failure.</summary>
    public static InferenceException Invalid(string message) => new(InferenceErrorKind.InvalidInput, message);
}
