namespace Maas.Core.Registry;

/// <summary>A registry operation refused with a stable machine-readable code and a message for people.</summary>
public sealed class RegistryException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RegistryException(RegistryErrorKind kind, string code, string message, IReadOnlyDictionary<string, object?>? details = null, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        Code = code;
        Details = details ?? new Dictionary<string, object?>();
    }

    /// <summary>The kind of failure.</summary>
    public RegistryErrorKind Kind { get; }

    /// <summary>The stable error code, e.g. "model_not_found".</summary>
    public string Code { get; }

    /// <summary>Extra fields for the error body (e.g. the limit that was exceeded).</summary>
    public IReadOnlyDictionary<string, object?> Details { get; }

    /// <summary>A 400-kind error.</summary>
    public static RegistryException Invalid(string code, string message, IReadOnlyDictionary<string, object?>? details = null, Exception? inner = null) =>
        new(RegistryErrorKind.Invalid, code, message, details, inner);

    /// <summary>A 404-kind error.</summary>
    public static RegistryException NotFound(string code, string message) => new(RegistryErrorKind.NotFound, code, message);

    /// <summary>A 409-kind error.</summary>
    public static RegistryException Conflict(string code, string message, IReadOnlyDictionary<string, object?>? details = null) =>
        new(RegistryErrorKind.Conflict, code, message, details);

    /// <summary>The model does not exist.</summary>
    public static RegistryException ModelNotFound(string model) => NotFound("model_not_found", $"model '{RegistryNames.Shorten(model)}' does not exist");

    /// <summary>The version does not exist (or is not ready yet).</summary>
    public static RegistryException VersionNotFound(string model, int version) =>
        NotFound("version_not_found", $"model '{model}' has no version {version}");

    /// <summary>The alias does not exist.</summary>
    public static RegistryException AliasNotFound(string model, string alias) =>
        NotFound("alias_not_found", $"model '{model}' has no alias '{RegistryNames.Shorten(alias)}'");
}
