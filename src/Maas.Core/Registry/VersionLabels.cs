using System.Text.Json;

namespace Maas.Core.Registry;

/// <summary>
/// The class labels of a version, by output: the one resolution that serving (the classification extension) and the
/// management API's version view both use, so a client never repeats it.
/// </summary>
public static class VersionLabels
{
    private static readonly Dictionary<string, IReadOnlyList<string>> Empty = [];

    /// <summary>
    /// The labels of <paramref name="version"/> as its model <paramref name="config"/> serves it: the serving
    /// configuration (<c>labels</c>) first, then the version's <c>maas.*</c> metadata, then the classifier nodes of its
    /// file (<see cref="ModelSignature.ClassLabels"/>), each output from the first that names it. Null when none does.
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>>? Resolve(ServingConfig config, ModelVersion version)
    {
        Dictionary<string, IReadOnlyList<string>>? result = null;
        // Lowest precedence first: each later source replaces an output's labels.
        foreach (var source in new[] { version.Signature.ClassLabels, FromMetadata(version.Metadata), config.Labels })
        {
            foreach (var (output, labels) in source ?? Empty)
            {
                if (labels is not null)
                {
                    (result ??= new(StringComparer.Ordinal))[output] = labels;
                }
            }
        }

        return result;
    }

    /// <summary>
    /// <see cref="Resolve"/>'s labels that serving can use, for showing: only outputs the version's signature has, and
    /// only labels as many as the output's classes where the signature fixes them (the dimensions after the first, or
    /// the only one); serving leaves other labels out when it ranks an output, answering indices only.
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>>? Usable(ServingConfig config, ModelVersion version)
    {
        var labels = Resolve(config, version);
        if (labels is null || version.Signature.Outputs is not { } outputs)
        {
            return labels;
        }

        Dictionary<string, IReadOnlyList<string>>? result = null;
        foreach (var output in outputs)
        {
            if (labels.TryGetValue(output.Name, out var names) && (FixedClasses(output.Shape) is not { } classes || classes == names.Count))
            {
                (result ??= new(StringComparer.Ordinal))[output.Name] = names;
            }
        }

        return result;
    }

    // The classes an output's signature fixes: the product of the dimensions after the first (all of a rank-1 output);
    // null when one of them is open.
    private static long? FixedClasses(IReadOnlyList<long> shape)
    {
        var dims = shape.Count > 1 ? shape.Skip(1) : shape;
        long product = 1;
        foreach (var d in dims)
        {
            if (d <= 0)
            {
                return null;
            }

            product *= d;
        }

        return shape.Count == 0 ? null : product;
    }

    /// <summary>
    /// The labels a version's metadata gives: a table classifier MaaS trained names its classes for its score output
    /// (<c>maas.tabular</c>), an image classifier for its logits and probabilities (<c>maas.image</c>).
    /// </summary>
    public static Dictionary<string, IReadOnlyList<string>>? FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        Dictionary<string, IReadOnlyList<string>>? result = null;
        Read(Training.TabularModelInfo.MetadataKey, ["score_output"]);
        Read("maas.image", ["logits_output", "probabilities_output"]);
        return result;

        void Read(string key, string[] outputKeys)
        {
            if (!metadata.TryGetValue(key, out var text))
            {
                return;
            }

            try
            {
                using var doc = JsonDocument.Parse(text);
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("classes", out var classes) || classes.ValueKind != JsonValueKind.Array)
                {
                    return;
                }

                var names = new List<string>(classes.GetArrayLength());
                foreach (var c in classes.EnumerateArray())
                {
                    if (c.ValueKind != JsonValueKind.String)
                    {
                        return; // not what a training job writes: no labels rather than wrong ones
                    }

                    names.Add(c.GetString()!);
                }

                foreach (var outputKey in outputKeys)
                {
                    if (root.TryGetProperty(outputKey, out var output) && output.ValueKind == JsonValueKind.String && output.GetString() is { Length: > 0 } name)
                    {
                        (result ??= new(StringComparer.Ordinal))[name] = names;
                    }
                }
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                // A version stored before maas.* keys were reserved may hold anything: no labels.
            }
        }
    }
}
