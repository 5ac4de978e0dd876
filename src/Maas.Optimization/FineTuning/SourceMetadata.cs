using System.Globalization;
using System.Text.Json;
using Maas.Core.Registry;
using Maas.Core.Training;

namespace Maas.Optimization.FineTuning;

/// <summary>
/// The metadata MaaS's training jobs write into a version (<c>maas.image</c>, <c>maas.tabular</c>), read for a fine-tune
/// or an evaluation. Clients may not set them now, but a version stored earlier may hold anything: one MaaS cannot read is
/// a 400 naming the key, never an unexpected error. The training record (<c>maas.lineage</c>), which only gives
/// defaults, is read by <see cref="TrainingRecord"/>.
/// </summary>
internal static class SourceMetadata
{
    /// <summary>The classes and <c>[channels, height, width]</c> of an image classifier MaaS trained; null when the version has no <c>maas.image</c>.</summary>
    public static (string[] Classes, int[] Shape)? Image(ModelVersion source, string option)
    {
        if (!source.Metadata.TryGetValue(ImageKey, out var text))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("classes", out var classes) && classes.ValueKind == JsonValueKind.Array && classes.GetArrayLength() >= 2
                && classes.EnumerateArray().All(c => c.ValueKind == JsonValueKind.String)
                && root.TryGetProperty("shape", out var shape) && shape.ValueKind == JsonValueKind.Array && shape.GetArrayLength() == 3
                && shape.EnumerateArray().All(d => d.ValueKind == JsonValueKind.Number && d.TryGetInt32(out var n) && n > 0))
            {
                return (classes.EnumerateArray().Select(c => c.GetString()!).ToArray(), shape.EnumerateArray().Select(d => d.GetInt32()).ToArray());
            }
        }
        catch (JsonException)
        {
        }

        throw Unreadable(source, option, ImageKey, "a JSON object with \"classes\" (two or more class names) and \"shape\" ([channels, height, width], whole numbers from 1)");
    }

    /// <summary>How a table classifier MaaS trained is called; null when the version has no <c>maas.tabular</c>.</summary>
    public static TabularModelInfo? Tabular(ModelVersion source, string option)
    {
        if (!source.Metadata.TryGetValue(TabularModelInfo.MetadataKey, out var text))
        {
            return null;
        }

        return TabularModelInfo.TryRead(text) ?? throw Unreadable(source, option, TabularModelInfo.MetadataKey, TabularModelInfo.Expected);
    }

    /// <summary>The metadata key of image classifiers MaaS trained.</summary>
    public const string ImageKey = "maas.image";

    private static OptimizationRequestException Unreadable(ModelVersion source, string option, string key, string expected) =>
        new(
            $"{option}_not_applicable",
            string.Create(CultureInfo.InvariantCulture, $"options.{option}: version {source.Version} of '{RegistryNames.Shorten(source.Model)}' has metadata {key} that MaaS " +
                $"cannot read (it takes {expected}, as a training job writes it); ")
            + $"upload the model without {key}, or with the value its training job wrote");
}
