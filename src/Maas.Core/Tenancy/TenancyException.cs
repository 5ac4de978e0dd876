namespace Maas.Core.Tenancy;

/// <summary>A tenancy operation refused with a stable code; <see cref="Status"/> is the HTTP status it maps to.</summary>
public sealed class TenancyException(int status, string code, string message) : Exception(message)
{
    /// <summary>The HTTP status (400, 404, 409).</summary>
    public int Status { get; } = status;

    /// <summary>The stable error code.</summary>
    public string Code { get; } = code;

    /// <summary>A 400.</summary>
    public static TenancyException Invalid(string code, string message) => new(400, code, message);

    /// <summary>A 404.</summary>
    public static TenancyException NotFound(string code, string message) => new(404, code, message);

    /// <summary>A 409.</summary>
    public static TenancyException Conflict(string code, string message) => new(409, code, message);
}
