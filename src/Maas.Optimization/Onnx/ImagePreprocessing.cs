using System.Globalization;
using System.Text.Json;
using Maas.Core.Registry;

namespace Maas.Optimization.Onnx;

/// <summary>
/// How a picture's 8-bit pixels become a model's input values: <c>(pixel - Mean[c]) / Std[c]</c> per channel, the
/// channels in RGB or BGR order; <see cref="From"/> says where the choice came from (the options or the version's metadata).
/// </summary>
public sealed record ImagePreprocessing(float[] Mean, float[] Std, bool Bgr, string From)
{
    /// <summary>Version metadata naming a model's preprocessing: a preset name or an object like options.preprocess.</summary>
    public const string MetadataKey = ReservedMetadata.ClientPreprocessKey;

    /// <summary>Version metadata of image classifiers trained by MaaS, which take pixels scaled to [0, 1].</summary>
    public const string TrainedImageKey = "maas.image";

    /// <summary>The preset names and their mean and standard deviation on the 0-255 pixel scale.</summary>
    public static IReadOnlyDictionary<string, (float[] Mean, float[] Std)> Presets { get; } = new Dictionary<string, (float[], float[])>(StringComparer.Ordinal)
    {
        ["unit"] = ([0, 0, 0], [255, 255, 255]),
        ["symmetric"] = ([127, 127, 127], [128, 128, 128]),
        ["imagenet"] = ([0.485f * 255, 0.456f * 255, 0.406f * 255], [0.229f * 255, 0.224f * 255, 0.225f * 255]),
        ["raw"] = ([0, 0, 0], [1, 1, 1]),
    };

    /// <summary>
    /// The preprocessing of an image calibration: <paramref name="options"/> (options.preprocess, with
    /// options.channel_order) first, then the version's <see cref="MetadataKey"/>, then unit scaling for a classifier
    /// MaaS trained; or throws <see cref="OptimizationRequestException"/> asking for options.preprocess.
    /// </summary>
    public static ImagePreprocessing Resolve(JsonElement? options, string? channelOrder, ModelVersion source, int channels)
    {
        if (options is { } given)
        {
            return Parse(given, "options.preprocess", channelOrder, channels, "options");
        }

        if (source.Metadata.TryGetValue(MetadataKey, out var text))
        {
            JsonElement parsed;
            try
            {
                // A bare preset name is accepted as well as JSON.
                parsed = text.TrimStart().StartsWith('{') || text.TrimStart().StartsWith('"')
                    ? JsonDocument.Parse(text).RootElement.Clone()
                    : JsonDocument.Parse(JsonSerializer.Serialize(text)).RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new OptimizationRequestException("invalid_calibration", $"the version's metadata {MetadataKey} is not a preset name or a JSON object: {e.Message}");
            }

            return Parse(parsed, $"metadata {MetadataKey}", channelOrder, channels, $"metadata {MetadataKey}");
        }

        if (source.Metadata.ContainsKey(TrainedImageKey))
        {
            var (mean, std) = Presets["unit"];
            return new ImagePreprocessing(mean[..channels], std[..channels], IsBgr(channelOrder), $"metadata {TrainedImageKey} (unit)");
        }

        throw new OptimizationRequestException(
            "invalid_calibration",
            $"calibrating on pictures needs to know how the model's input is normalised: give options.preprocess ({string.Join(", ", Presets.Keys)}, or {{\"mean\": [...], " +
            $"\"std\": [...]}} on the 0-255 scale), or set the version's metadata {MetadataKey}");
    }

    /// <summary>The preset name or {mean, std} object <paramref name="element"/>, for a model of <paramref name="channels"/> channels.</summary>
    public static ImagePreprocessing Parse(JsonElement element, string field, string? channelOrder, int channels, string from)
    {
        float[] mean, std;
        if (element.ValueKind == JsonValueKind.String)
        {
            var name = element.GetString()!;
            if (!Presets.TryGetValue(name, out var preset))
            {
                throw new OptimizationRequestException("invalid_options",
                    $"{field} must be one of {string.Join(", ", Presets.Keys)} or {{\"mean\": [...], \"std\": [...]}}, not '{RegistryNames.Shorten(name)}'");
            }

            (mean, std) = (preset.Mean[..channels], preset.Std[..channels]);
            from = $"{from} ({name})";
        }
        else if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject().Where(p => p.Name is not ("mean" or "std")))
            {
                throw new OptimizationRequestException("invalid_options", $"{field} takes mean and std, not '{RegistryNames.Shorten(property.Name)}'");
            }

            mean = Numbers(element, "mean", field, channels, positive: false);
            std = Numbers(element, "std", field, channels, positive: true);
        }
        else
        {
            throw new OptimizationRequestException("invalid_options",
                $"{field} must be a preset name ({string.Join(", ", Presets.Keys)}) or an object {{\"mean\": [...], \"std\": [...]}}");
        }

        return new ImagePreprocessing(mean, std, IsBgr(channelOrder), from);
    }

    private static bool IsBgr(string? channelOrder) => channelOrder switch
    {
        null or "rgb" => false,
        "bgr" => true,
        _ => throw new OptimizationRequestException("invalid_options", $"options.channel_order must be rgb or bgr, not '{RegistryNames.Shorten(channelOrder)}'"),
    };

    // One number per channel, or one for all of them.
    private static float[] Numbers(JsonElement element, string key, string field, int channels, bool positive)
    {
        if (!element.TryGetProperty(key, out var values) || values.ValueKind != JsonValueKind.Array
            || values.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d) || !double.IsFinite(d) || (positive && d <= 0))
            || values.GetArrayLength() is var n && n != 1 && n != channels)
        {
            throw new OptimizationRequestException("invalid_options", $"{field}.{key} must be an array of 1 or {channels.ToString(CultureInfo.InvariantCulture)} " +
                $"{(positive ? "positive " : "")}numbers (the 0-255 pixel scale, one per channel)");
        }

        var numbers = values.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
        return numbers.Length == channels ? numbers : Enumerable.Repeat(numbers[0], channels).ToArray();
    }
}
