using System.Globalization;
using Maas.Core.Deployments;
using Maas.Core.Registry;

namespace Maas.Server.Deployments;

/// <summary>
/// Tells the registry a version is in use while a deployment names it in its split or shadows: deleting it would leave the
/// deployment routing calls to a version that no longer exists (every call it picks would be a 404), so it needs force.
/// A model deleted with force takes its deployment with it; a version deleted with force is taken out of its deployment
/// (<see cref="DeploymentService.VersionDeletedAsync"/>) before it is deleted, and again after (a change stored meanwhile).
/// </summary>
internal sealed class DeployedVersionUseCheck(IDeploymentStore store, DeploymentRouter router, VersionDeletions deletions) : IVersionUseCheck
{
    // Through the seam: the service that moves deployments off needs the registry, which is built with this check.
    // Before the delete: this server's router follows the moved split while the version still exists, so neither a
    // call nor readiness (GET /v2/models/{m}/ready follows the split) meets it missing in between.
    public async ValueTask VersionDeletingAsync(ModelVersion version, CancellationToken cancellationToken) =>
        await deletions.MoveOffAsync(version.Model, version.Version, cancellationToken).ConfigureAwait(false);

    // After it: a change that named the version meanwhile (checked before the delete, stored after the move) moves too.
    public async ValueTask VersionDeletedAsync(ModelVersion version, CancellationToken cancellationToken) =>
        await deletions.MoveOffAsync(version.Model, version.Version, cancellationToken).ConfigureAwait(false);

    public async ValueTask ModelDeletedAsync(string model, CancellationToken cancellationToken)
    {
        // Left behind, the deployment kept routing the model's name: hidden from its API (no model, so 404), yet a model
        // created later under that name silently took its split, pinned to the old version numbers.
        foreach (var deployment in await store.ListAsync(null, cancellationToken).ConfigureAwait(false))
        {
            if (deployment.Model == model)
            {
                await store.DeleteAsync(deployment.Tenant, deployment.Name, cancellationToken).ConfigureAwait(false);
                await router.RefreshAsync(force: true, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async ValueTask<string?> GetUseAsync(ModelVersion version, CancellationToken cancellationToken)
    {
        // The database, not the router's copy: another server may have just deployed it.
        foreach (var deployment in await store.ListAsync(null, cancellationToken).ConfigureAwait(false))
        {
            if (deployment.Model != version.Model)
            {
                continue;
            }

            if (deployment.Traffic.FirstOrDefault(t => t.Version == version.Version) is { } share)
            {
                return $"deployment '{deployment.Name}' gives it {share.Percent.ToString(CultureInfo.InvariantCulture)}% of the traffic";
            }

            if (deployment.Shadow.Any(s => s.Version == version.Version))
            {
                return $"deployment '{deployment.Name}' copies calls to it as a shadow";
            }
        }

        return null;
    }
}
