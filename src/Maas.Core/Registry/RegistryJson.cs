using System.Text.Json;
using System.Text.Json.Serialization;

namespace Maas.Core.Registry;

/// <summary>The JSON conventions of the registry: snake_case names, enums as lowercase strings, nulls left out.</summary>
public static class RegistryJson
{
    /// <summary>Options for the registry's stored documents and its API bodies.</summary>
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            DictionaryKeyPolicy = null,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            // Numbers as JSON numbers only; "3" for a version is a caller mistake, not something to guess.
            NumberHandling = JsonNumberHandling.Strict,
            // Messages and names read as written (' and < rather than \u0027 and \u003C): these bodies are
            // application/json for programs and people, never inlined into HTML.
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    /// <summary>Serializes with <see cref="Options"/>.</summary>
    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <summary>Deserializes with <see cref="Options"/>; empty text gives <paramref name="fallback"/>.</summary>
    public static T Deserialize<T>(string? json, T fallback) =>
        string.IsNullOrEmpty(json) ? fallback : JsonSerializer.Deserialize<T>(json, Options) ?? fallback;

    /// <summary>
    /// Deserializes a stored document with <see cref="Options"/>, or null where it is empty or this version cannot read
    /// it (another version of the server wrote it): views show such a record with what else is known instead of failing.
    /// </summary>
    public static T? TryDeserialize<T>(string? json)
        where T : class
    {
        try
        {
            return string.IsNullOrEmpty(json) ? null : JsonSerializer.Deserialize<T>(json, Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
