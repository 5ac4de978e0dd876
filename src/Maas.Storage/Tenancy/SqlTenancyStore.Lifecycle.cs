using System.Data.Common;
using Dapper;
using Maas.Core.Tenancy;
using Maas.Storage.Sql;

namespace Maas.Storage.Tenancy;

/// <summary>Suspending and deleting tenants.</summary>
public sealed partial class SqlTenancyStore
{
    // Where each kind a tenant owns lives (all in this database), and the name shown for a row.
    private static readonly (string From, string Name)[] ModelsHeld = [("models WHERE owner = @Name", "name")];
    private static readonly (string From, string Name)[] DatasetsHeld = [("datasets WHERE owner = @Name", "name")];
    private static readonly (string From, string Name)[] DeploymentsHeld = [("deployments WHERE tenant = @Name", "name")];
    private static readonly (string From, string Name)[] FilesHeld = [("openai_files WHERE tenant = @Name", "id")];

    // Worker-run jobs (training, fine-tuning, optimisation) and the server's own (imports).
    private static readonly (string From, string Name)[] JobsHeld =
    [
        ("queued_jobs WHERE tenant = @Name AND status IN ('queued', 'running')", "kind || ' ' || id"),
        ("jobs WHERE tenant = @Name AND status IN ('queued', 'running')", "kind || ' ' || id"),
    ];

    /// <inheritdoc />
    public async Task<bool> SetTenantDisabledAsync(string name, bool disabled, string actor, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var exists = await connection.ExecuteScalarAsync<long>(Command(
            "SELECT COUNT(*) FROM tenants WHERE name = @Name AND deleted_at IS NULL", new { Name = name }, transaction, cancellationToken)).ConfigureAwait(false) == 1;
        if (exists)
        {
            await connection.ExecuteAsync(Command(
                disabled
                    ? "UPDATE tenants SET disabled_at = @At, disabled_by = @By WHERE name = @Name AND disabled_at IS NULL"
                    : "UPDATE tenants SET disabled_at = NULL, disabled_by = NULL WHERE name = @Name",
                new { Name = name, By = actor, At = at.ToUnixTimeMilliseconds() },
                transaction,
                cancellationToken)).ConfigureAwait(false);
            await connection.ExecuteAsync(Command(BumpEpoch, null, transaction, cancellationToken)).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return exists;
    }

    /// <inheritdoc />
    public async Task<TenantHoldings> GetTenantHoldingsAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await HoldingsAsync(connection, null, name, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<TenantHoldings> DeleteTenantAsync(string name, string actor, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        // SQLite's transactions begin immediate, and on PostgreSQL every add for the tenant waits for this row lock (see
        // TenantRows), so nothing is added to the tenant between the check and the delete.
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        if (await TenantRows.LockAsync(Dialect, connection, transaction, name, RowLock.Update, cancellationToken).ConfigureAwait(false)
            is TenantRowState.Missing or TenantRowState.Deleted)
        {
            return TenantHoldings.None; // deleted meanwhile: nothing to do
        }

        var holdings = await HoldingsAsync(connection, transaction, name, cancellationToken).ConfigureAwait(false);
        if (!holdings.IsEmpty)
        {
            return holdings;
        }

        var parameters = new { Name = name, By = actor, At = at.ToUnixTimeMilliseconds() };
        await connection.ExecuteAsync(Command(
            "UPDATE tenants SET deleted_at = @At, deleted_by = @By WHERE name = @Name AND deleted_at IS NULL", parameters, transaction, cancellationToken)).ConfigureAwait(false);
        await connection.ExecuteAsync(Command(
            "UPDATE api_keys SET revoked_at = @At, revoked_by = @By WHERE tenant = @Name AND revoked_at IS NULL", parameters, transaction, cancellationToken))
                .ConfigureAwait(false);
        await connection.ExecuteAsync(Command(BumpEpoch, null, transaction, cancellationToken)).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return TenantHoldings.None;
    }

    private async Task<bool> WasDeletedAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteScalarAsync<long>(Command(
            "SELECT COUNT(*) FROM tenants WHERE name = @Name AND deleted_at IS NOT NULL", new { Name = name }, null, cancellationToken)).ConfigureAwait(false) == 1;
    }

    private static async Task<TenantHoldings> HoldingsAsync(DbConnection connection, DbTransaction? transaction, string name, CancellationToken cancellationToken) => new()
    {
        Models = await HeldAsync(connection, transaction, name, ModelsHeld, cancellationToken).ConfigureAwait(false),
        Datasets = await HeldAsync(connection, transaction, name, DatasetsHeld, cancellationToken).ConfigureAwait(false),
        Deployments = await HeldAsync(connection, transaction, name, DeploymentsHeld, cancellationToken).ConfigureAwait(false),
        RunningJobs = await HeldAsync(connection, transaction, name, JobsHeld, cancellationToken).ConfigureAwait(false),
        Files = await HeldAsync(connection, transaction, name, FilesHeld, cancellationToken).ConfigureAwait(false),
    };

    private static async Task<HeldItems> HeldAsync(
        DbConnection connection, DbTransaction? transaction, string name, IReadOnlyList<(string From, string Name)> sources, CancellationToken cancellationToken)
    {
        long count = 0;
        var names = new List<string>();
        foreach (var (from, shown) in sources)
        {
            var parameters = new { Name = name };
            count += await connection.ExecuteScalarAsync<long>(Command($"SELECT COUNT(*) FROM {from}", parameters, transaction, cancellationToken)).ConfigureAwait(false);
            names.AddRange(await connection.QueryAsync<string>(Command(
                $"SELECT {shown} FROM {from} ORDER BY 1 LIMIT {TenantHoldings.NamesShown}", parameters, transaction, cancellationToken)).ConfigureAwait(false));
        }

        return count == 0 ? HeldItems.None : new HeldItems(count, names.Take(TenantHoldings.NamesShown).ToArray());
    }
}
