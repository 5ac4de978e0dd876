using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Core.Registry;

namespace Maas.Optimization;

/// <summary>What an optimisation job writes into the version it registers, and how serving reads it.</summary>
public static class OptimizationMetadata
{
    /// <summary>The metadata key of the job's record: status, method, options, source and report.</summary>
    public const string Key = "maas.optimization";

    /// <summary>The metadata key naming the job that registered the version (shared with training).</summary>
    public const string JobKey = "maas.job";

    /// <summary>The status of a version whose gate passed.</summary>
    public const string Ready = "ready";

    /// <summary>The status of a version whose gate failed: kept with its numbers, not served.</summary>
    public const string Rejected = "rejected";

    /// <summary>The optimisation status of <paramref name="version"/>, or null when no optimisation job made it.</summary>
    public static string? StatusOf(ModelVersion version)
    {
        if (!version.Metadata.TryGetValue(Key, out var text))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("status", out var status) &&
                status.ValueKind == JsonValueKind.String
                ? status.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// True when an administrator chose to serve <paramref name="version"/> although its gate rejected it (a "forced"
    /// object in its optimisation record, written by <c>:force-serve</c>).
    /// </summary>
    public static bool IsForced(ModelVersion version) => Record(version) is { } record && record["forced"] is JsonObject;

    /// <summary>
    /// The optimisation record of <paramref name="version"/> with its "forced" entry set to <paramref name="forced"/>
    /// (removed when null), as the metadata value to store; null when the version has no record.
    /// </summary>
    public static string? WithForced(ModelVersion version, object? forced)
    {
        if (Record(version) is not { } record)
        {
            return null;
        }

        record["forced"] = forced is null ? null : JsonSerializer.SerializeToNode(forced, RegistryJson.Options);
        if (forced is null)
        {
            record.Remove("forced");
        }

        return record.ToJsonString(RegistryJson.Options);
    }

    private static JsonObject? Record(ModelVersion version)
    {
        if (!version.Metadata.TryGetValue(Key, out var text))
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(text) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>True when an optimisation gate rejected <paramref name="version"/>.</summary>
    public static bool IsRejected(ModelVersion version) => StatusOf(version) == Rejected;

    /// <summary>The message a caller of a rejected version gets.</summary>
    public static string RejectedMessage(ModelVersion version) =>
        $"version {version.Version} of model '{version.Model}' was rejected by its optimisation gate and is not served; see its report at " +
        $"/api/v1/models/{version.Model}/versions/{version.Version}";
}
