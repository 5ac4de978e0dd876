using System.Text.Json;
using Maas.Core.Llm;

namespace Maas.Server.OpenAi;

/// <summary>Reads a request's stop strings (a string or an array of them) within Maas:Llm:MaxStopStrings and MaxStopLength.</summary>
internal static class StopStrings
{
    /// <summary>
    /// The stop strings under <paramref name="container"/>'s "stop"; <paramref name="path"/> names it in errors
    /// ("stop", "options.stop"). Ollama leaves empty strings out (<paramref name="dropEmpty"/>); OpenAI keeps them.
    /// </summary>
    public static List<string> Read(JsonElement container, string path, LlmServingOptions limits, bool dropEmpty = false)
    {
        var stop = new List<string>();
        if (container.TryGetProperty("stop", out var value))
        {
            switch (value.ValueKind)
            {
                case JsonValueKind.Null:
                    break;
                case JsonValueKind.String:
                    stop.Add(value.GetString()!);
                    break;
                case JsonValueKind.Array:
                    foreach (var s in value.EnumerateArray())
                    {
                        stop.Add(s.ValueKind == JsonValueKind.String ? s.GetString()! : throw NotStrings(path));
                    }

                    break;
                default:
                    throw NotStrings(path);
            }
        }

        if (dropEmpty)
        {
            stop.RemoveAll(s => s.Length == 0);
        }

        if (stop.Count > limits.MaxStopStrings)
        {
            throw LlmException.Invalid($"'{path}' holds {stop.Count} strings; at most {limits.MaxStopStrings} are allowed (Maas:Llm:MaxStopStrings)", path);
        }

        if (stop.FirstOrDefault(s => s.Length > limits.MaxStopLength) is { } longStop)
        {
            throw LlmException.Invalid($"a '{path}' string is {longStop.Length} characters long; at most {limits.MaxStopLength} are allowed (Maas:Llm:MaxStopLength)", path);
        }

        return stop;
    }

    private static LlmException NotStrings(string path) => LlmException.Invalid($"'{path}' must be a string or an array of strings", path);
}
