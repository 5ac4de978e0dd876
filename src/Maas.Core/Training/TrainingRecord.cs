using System.Text.Json;
using Maas.Core.Registry;

namespace Maas.Core.Training;

/// <summary>
/// The record of how a version was trained (<see cref="TabularModelInfo.LineageMetadataKey"/>, written by the training
/// job that registered it), read for what later jobs take from it as defaults: the label and feature columns, the
/// trainer and the split. Clients may not set it now, but a version stored earlier may hold anything: a record that is
/// not a JSON object reads as absent, and a field of another shape than a training job writes as left out, never as an
/// error. <see cref="TrainedVersion"/> finds the version that holds it for one an optimisation derived.
/// </summary>
public sealed record TrainingRecord
{
    /// <summary>The label column, or null.</summary>
    public string? Label { get; init; }

    /// <summary>The feature columns, or null (also for a list that holds anything but names).</summary>
    public IReadOnlyList<string>? Features { get; init; }

    /// <summary>The trainer's name, or null.</summary>
    public string? Trainer { get; init; }

    /// <summary>The split, when it is one a training job could have used; else null.</summary>
    public TrainingSplit? Split { get; init; }

    /// <summary>The image column an image classifier was trained on (the record's one feature), or null.</summary>
    public string? ImageColumn => Features is [var column] ? column : null;

    /// <summary>The record <paramref name="version"/> holds; null when it holds none, or none MaaS can read.</summary>
    public static TrainingRecord? Of(ModelVersion version)
    {
        if (!version.Metadata.TryGetValue(TabularModelInfo.LineageMetadataKey, out var text))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            return root.ValueKind != JsonValueKind.Object ? null : new TrainingRecord
            {
                Label = StringAt(root, "label"),
                Features = root.TryGetProperty("features", out var f) && f.ValueKind == JsonValueKind.Array && f.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String)
                    ? f.EnumerateArray().Select(e => e.GetString()!).ToArray()
                    : null,
                Trainer = StringAt(root, "trainer"),
                Split = SplitAt(root),
            };
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? StringAt(JsonElement record, string name) =>
        record.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static TrainingSplit? SplitAt(JsonElement record)
    {
        if (!record.TryGetProperty("split", out var s) || s.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        try
        {
            return s.Deserialize<TrainingSplit>(RegistryJson.Options) is { Validation: >= 0 and <= 0.5, Test: >= 0.05 and <= 0.5, Seed: >= 0 } split ? split : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
