using System.Data.Common;
using Dapper;
using Maas.Core.Registry;
using Maas.Storage.Sql;

namespace Maas.Storage.Tenancy;

/// <summary>
/// A tenant's row read and locked inside the transaction that adds something the tenant owns, or that deletes the
/// tenant. On PostgreSQL the delete locks the row FOR UPDATE and every add at least FOR KEY SHARE, so the two wait
/// for each other: an add either commits before the delete counts what the tenant owns, or sees it deleted. SQLite's
/// IMMEDIATE transactions serialise them already.
/// </summary>
public static class TenantRows
{
    /// <summary>Locks <paramref name="tenant"/>'s row as <paramref name="mode"/> asks and says what it holds.</summary>
    public static async Task<TenantRowState> LockAsync(
        SqlDialect dialect, DbConnection connection, DbTransaction transaction, string tenant, RowLock mode, CancellationToken cancellationToken)
    {
        var row = await connection.QuerySingleOrDefaultAsync<StateRow>(new CommandDefinition(
            $"SELECT disabled_at AS DisabledAt, deleted_at AS DeletedAt FROM tenants WHERE name = @Name{dialect.LockRows(mode)}",
            new { Name = tenant },
            transaction,
            cancellationToken: cancellationToken)).ConfigureAwait(false);
        return row is null ? TenantRowState.Missing
            : row.DeletedAt is not null ? TenantRowState.Deleted
            : row.DisabledAt is not null ? TenantRowState.Disabled
            : TenantRowState.Active;
    }

    /// <summary>
    /// Locks the owner's row against a concurrent delete (FOR KEY SHARE) and refuses a deleted owner with
    /// tenant_not_found; a name tenancy never recorded passes (as it does without tenancy).
    /// </summary>
    public static async Task RequireOwnerAsync(SqlDialect dialect, DbConnection connection, DbTransaction transaction, string owner, CancellationToken cancellationToken)
    {
        if (await LockAsync(dialect, connection, transaction, owner, RowLock.KeyShare, cancellationToken).ConfigureAwait(false) == TenantRowState.Deleted)
        {
            throw RegistryException.NotFound("tenant_not_found", $"tenant '{RegistryNames.Shorten(owner)}' does not exist");
        }
    }

    private sealed class StateRow
    {
        public long? DisabledAt { get; set; }

        public long? DeletedAt { get; set; }
    }
}
