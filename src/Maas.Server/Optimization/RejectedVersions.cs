using Maas.Core.Registry;
using Maas.Optimization;

namespace Maas.Server.Optimization;

/// <summary>Serving's check of versions an optimisation gate rejected: kept in the registry, not served unless forced.</summary>
internal static class RejectedVersions
{
    /// <summary>Why <paramref name="version"/> may not be served, or null when it may.</summary>
    /// <remarks>A server without the optimisation feature gets the options' defaults: no version listed as served.</remarks>
    public static string? Refusal(OptimizationOptions options, ModelVersion version)
    {
        if (!OptimizationMetadata.IsRejected(version) || OptimizationMetadata.IsForced(version))
        {
            return null;
        }

        return options.Forces(version.Model, version.Version)
            ? null
            : OptimizationMetadata.RejectedMessage(version) + $" (an administrator may serve it with POST " +
                $"/api/v1/models/{version.Model}/versions/{version.Version}:force-serve, or by listing '{version.Model}/versions/{version.Version}' in " +
                $"{OptimizationOptions.Section}:ServeRejected)";
    }
}
