using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Maas.Client;

/// <summary>The JSON conventions of the MaaS API: snake_case names, nulls left out, text written as it reads.</summary>
public static class MaasJson
{
    /// <summary>Options for request and response bodies.</summary>
    public static JsonSerializerOptions Options { get; } = Create(indented: false);

    /// <summary>The same, indented (for people and for <c>--json</c> output).</summary>
    public static JsonSerializerOptions Indented { get; } = Create(indented: true);

    private static JsonSerializerOptions Create(bool indented)
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            DictionaryKeyPolicy = null,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            // Output goes to terminals and files, never into HTML: ' and < stay readable.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            WriteIndented = indented,
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
