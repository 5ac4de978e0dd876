using System.Text.Encodings.Web;
using System.Text.Json;

namespace Maas.Server.Errors;

/// <summary>
/// How error bodies are written: text as it reads (<c>'Authorization: Bearer &lt;key&gt;'</c>, not <c>\u0027</c> and
/// <c>\u003C</c>). Safe because they are served as application/json, never inlined into an HTML page.
/// </summary>
public static class ReadableErrorJson
{
    /// <summary>Writer options for hand-written error bodies (auth, OpenAI).</summary>
    public static JsonWriterOptions WriterOptions { get; } = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Serializer options (web defaults) for error bodies built from objects.</summary>
    public static JsonSerializerOptions SerializerOptions { get; } = new(JsonSerializerDefaults.Web) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
