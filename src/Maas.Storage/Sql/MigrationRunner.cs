using System.Data.Common;
using Dapper;

namespace Maas.Storage.Sql;

/// <summary>Brings a database to the newest schema: each missing step in order, recorded in schema_migrations.</summary>
public static class MigrationRunner
{
    /// <summary>Applies the missing steps of <paramref name="migrations"/>; returns the versions it applied.</summary>
    /// <exception cref="InvalidOperationException">The database is newer than this build.</exception>
    public static async Task<IReadOnlyList<int>> MigrateAsync(SqlDialect dialect, IReadOnlyList<Migration> migrations, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await dialect.PrepareAsync(connection, cancellationToken).ConfigureAwait(false);
        try
        {
            return await MigrateAsync(connection, dialect, migrations, now, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // The pooled connection goes back as every other one is; a broken one is dropped by the pool anyway.
            if (connection.State == System.Data.ConnectionState.Open)
            {
                await dialect.FinishMigrationAsync(connection, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private static async Task<IReadOnlyList<int>> MigrateAsync(DbConnection connection, SqlDialect dialect, IReadOnlyList<Migration> migrations, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await dialect.LockForMigrationAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(new CommandDefinition(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            transaction: transaction,
            cancellationToken: cancellationToken)).ConfigureAwait(false);
        var applied = (await connection.QueryAsync<long>(new CommandDefinition(
            "SELECT version FROM schema_migrations", transaction: transaction, cancellationToken: cancellationToken)).ConfigureAwait(false)).ToHashSet();

        var newest = migrations.Count == 0 ? 0 : migrations.Max(m => m.Version);
        if (applied.Count > 0 && applied.Max() > newest)
        {
            throw new InvalidOperationException(
                $"the {dialect.Provider} database has schema version {applied.Max()}, newer than this build knows ({newest}); run a newer MaaS or restore a backup");
        }

        var done = new List<int>();
        foreach (var migration in migrations.OrderBy(m => m.Version))
        {
            if (applied.Contains(migration.Version))
            {
                continue;
            }

            await connection.ExecuteAsync(new CommandDefinition(dialect.Ddl(migration), transaction: transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@Version, @Name, @At)",
                new { Version = (long)migration.Version, migration.Name, At = now.ToUnixTimeMilliseconds() },
                transaction,
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            done.Add(migration.Version);
        }

        if (done.Count > 0)
        {
            await dialect.VerifyMigrationAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return done;
    }
}
