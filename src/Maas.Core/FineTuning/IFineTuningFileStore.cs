namespace Maas.Core.FineTuning;

/// <summary>Persistence of <see cref="FineTuningFile"/> metadata.</summary>
public interface IFineTuningFileStore
{
    /// <summary>
    /// Stores a new file's metadata, dropping storage reservation <paramref name="releasedReservation"/> in the same
    /// step (its bytes count as the file's from then on).
    /// </summary>
    Task AddAsync(FineTuningFile file, CancellationToken cancellationToken, string? releasedReservation = null);

    /// <summary>One file, or null.</summary>
    Task<FineTuningFile?> GetAsync(string id, CancellationToken cancellationToken);

    /// <summary>Files newest first; only the tenant's when <paramref name="tenant"/> is given, only one purpose when <paramref name="purpose"/> is.</summary>
    Task<IReadOnlyList<FineTuningFile>> ListAsync(string? tenant, string? purpose, int limit, CancellationToken cancellationToken);

    /// <summary>Deletes a file's metadata; false when it was not there.</summary>
    Task<bool> DeleteAsync(string id, CancellationToken cancellationToken);
}
