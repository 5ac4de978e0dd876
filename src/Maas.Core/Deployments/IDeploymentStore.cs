namespace Maas.Core.Deployments;

/// <summary>Where deployments live (the registry's database); every change is one transaction with its history row.</summary>
public interface IDeploymentStore
{
    /// <summary>Stores a new deployment and its first history row; conflict when the name or the model already has one.</summary>
    Task<Deployment> CreateAsync(Deployment deployment, DeploymentEvent created, CancellationToken cancellationToken);

    /// <summary>The deployment <paramref name="name"/> of <paramref name="tenant"/>, or null.</summary>
    Task<Deployment?> GetAsync(string tenant, string name, CancellationToken cancellationToken);

    /// <summary>Every deployment, or only <paramref name="tenant"/>'s; by tenant and name.</summary>
    Task<IReadOnlyList<Deployment>> ListAsync(string? tenant, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces the deployment when its stored revision is still <paramref name="expectedRevision"/> (conflict
    /// otherwise) and appends <paramref name="change"/>; returns it with the next revision.
    /// </summary>
    Task<Deployment> UpdateAsync(Deployment deployment, long expectedRevision, DeploymentEvent change, CancellationToken cancellationToken);

    /// <summary>Deletes the deployment and its history; false when it did not exist.</summary>
    Task<bool> DeleteAsync(string tenant, string name, CancellationToken cancellationToken);

    /// <summary>The history, newest first.</summary>
    Task<IReadOnlyList<DeploymentEvent>> HistoryAsync(string tenant, string name, int limit, CancellationToken cancellationToken);

    /// <summary>A number that grows with every change of any deployment, on every server sharing the database.</summary>
    Task<long> ChangeCounterAsync(CancellationToken cancellationToken);
}
