using Maas.Core.Registry;

namespace Maas.Core.Training;

/// <summary>
/// Finds the version whose training record (<see cref="TabularModelInfo.LineageMetadataKey"/>: its dataset, label,
/// features and split) describes a version: the version itself, or, for one an optimisation job derived from another
/// (which keeps its source's task, inputs and classes but not that record), the version it derives from, followed back.
/// </summary>
public static class TrainedVersion
{
    // How many derivations (an optimisation of an optimisation ...) are followed back.
    private const int MaxDerivations = 32;

    /// <summary>
    /// The version holding the training record and, when the chain breaks at a version that was deleted, that
    /// version's reference (<c>Missing</c>); a null holder when no version along the chain has a record.
    /// </summary>
    public static async Task<(ModelVersion? Holder, Lineage? Missing)> FindAsync(IModelRegistry registry, ModelVersion version, CancellationToken cancellationToken)
    {
        var current = version;
        for (var hop = 0; hop < MaxDerivations; hop++)
        {
            if (current.Metadata.ContainsKey(TabularModelInfo.LineageMetadataKey))
            {
                return (current, null);
            }

            if (current.DerivedFrom is not { } from)
            {
                return (null, null);
            }

            try
            {
                current = await registry.GetVersionAsync(from.Model, from.Version, cancellationToken);
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound)
            {
                return (null, from);
            }
        }

        return (null, null);
    }
}
