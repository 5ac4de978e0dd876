using System.Text.Json;

namespace Maas.Server.Errors;

/// <summary>The text of a refusal for a request body that is not JSON, the same on every protocol.</summary>
internal static class JsonBodyErrors
{
    /// <summary>What a caller reads when no JSON was sent at all.</summary>
    public const string Empty = "the request body is empty: a JSON object is required";

    /// <summary>
    /// <paramref name="prefix"/> and the parser's reason; for a body with no JSON token at all (empty, or only white
    /// space) <see cref="Empty"/>, since the parser's own text for it ("isFinalBlock", "LineNumber: 0") tells a caller nothing.
    /// </summary>
    public static string Describe(string prefix, JsonException ex) =>
        ex.Message.StartsWith("The input does not contain any JSON tokens", StringComparison.Ordinal) ? Empty : $"{prefix}: {ex.Message}";
}
