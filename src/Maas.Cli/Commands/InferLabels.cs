using System.Globalization;
using System.Text.Json;
using Maas.Client;
using Maas.Client.Inference;

namespace Maas.Cli.Commands;

/// <summary>
/// The class labels of the version that answered, by output, so <c>maas infer</c> can print a classifier's top
/// classes by name: as the server's classification extension takes them, the model's serving configuration
/// (<c>labels</c>) first, then the version's <c>maas.tabular</c> / <c>maas.image</c> metadata, then its file's
/// classifier nodes (<c>signature.class_labels</c>).
/// </summary>
internal static class InferLabels
{
    /// <summary>Labels by output, or null when the version names none or cannot be read (a key without models:read).</summary>
    public static async Task<IReadOnlyDictionary<string, IReadOnlyList<string>>?> ReadAsync(MaasClient client, InferResponse response, CancellationToken ct)
    {
        if (!int.TryParse(response.ModelVersion, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return null;
        }

        try
        {
            var version = await client.GetVersionAsync(response.ModelName, number, ct);
            var model = await client.GetModelAsync(response.ModelName, ct);
            var labels = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
            // Lowest precedence first: each later source replaces an output's labels.
            if (version.Signature is { ValueKind: JsonValueKind.Object } signature && signature.TryGetProperty("class_labels", out var fromFile))
            {
                AddMap(labels, fromFile);
            }

            AddMetadata(labels, version.Metadata, "maas.tabular", "score_output");
            AddMetadata(labels, version.Metadata, "maas.image", "logits_output", "probabilities_output");
            if (model.ServingConfig is { ValueKind: JsonValueKind.Object } config && config.TryGetProperty("labels", out var configured))
            {
                AddMap(labels, configured);
            }

            return labels.Count == 0 ? null : labels;
        }
        catch (MaasApiException)
        {
            return null; // the numbers alone, as before
        }
    }

    private static void AddMap(Dictionary<string, IReadOnlyList<string>> labels, JsonElement map)
    {
        if (map.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        foreach (var output in map.EnumerateObject())
        {
            if (Strings(output.Value) is { } names)
            {
                labels[output.Name] = names;
            }
        }
    }

    private static void AddMetadata(Dictionary<string, IReadOnlyList<string>> labels, IReadOnlyDictionary<string, string>? metadata, string key, params string[] outputKeys)
    {
        if (metadata?.GetValueOrDefault(key) is not { } text)
        {
            return;
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("classes", out var classes) || Strings(classes) is not { } names)
            {
                return;
            }

            foreach (var outputKey in outputKeys)
            {
                if (root.TryGetProperty(outputKey, out var output) && output.ValueKind == JsonValueKind.String && output.GetString() is { Length: > 0 } name)
                {
                    labels[name] = names;
                }
            }
        }
        catch (JsonException)
        {
            // Not what a training job writes: no labels rather than wrong ones.
        }
    }

    private static string[]? Strings(JsonElement array) =>
        array.ValueKind == JsonValueKind.Array && array.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String)
            ? array.EnumerateArray().Select(e => e.GetString()!).ToArray()
            : null;
}
