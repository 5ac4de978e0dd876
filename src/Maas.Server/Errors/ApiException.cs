namespace Maas.Server.Errors;

/// <summary>An error a handler throws to answer with a status, a stable code and a message.</summary>
public sealed class ApiException(int status, string code, string message, IReadOnlyDictionary<string, object?>? details = null) : Exception(message)
{
    /// <summary>The HTTP status.</summary>
    public int Status { get; } = status;

    /// <summary>The stable error code.</summary>
    public string Code { get; } = code;

    /// <summary>Extra fields of the error body.</summary>
    public IReadOnlyDictionary<string, object?>? Details { get; } = details;
}
