using System.Data.Common;
using Npgsql;

namespace Maas.Storage.Sql;

/// <summary>PostgreSQL through Npgsql, from a connection string.</summary>
public sealed class PostgresDialect : SqlDialect
{
    // An arbitrary constant: the advisory lock id every MaaS server takes while it migrates.
    private const long MigrationLockId = 0x4D61615352656701;

    // Another arbitrary constant: the first key of the per-owner advisory locks that storage reservations take.
    private const int StorageLockClass = 0x4D616153;

    // And another: the first key of the per-tenant advisory locks that job submissions take.
    private const int JobsLockClass = 0x4D61614A;

    private readonly NpgsqlDataSource _dataSource;

    /// <summary>Connects with <paramref name="connectionString"/>.</summary>
    public PostgresDialect(string connectionString)
    {
        _dataSource = NpgsqlDataSource.Create(connectionString);
    }

    /// <inheritdoc />
    public override string Provider => "postgres";

    /// <inheritdoc />
    public override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public override async Task LockForMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SELECT pg_advisory_xact_lock({MigrationLockId})";
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override Task LockOwnerStorageAsync(DbConnection connection, DbTransaction transaction, string owner, CancellationToken cancellationToken) =>
        LockAsync(connection, transaction, StorageLockClass, owner, cancellationToken);

    /// <inheritdoc />
    public override Task LockTenantJobsAsync(DbConnection connection, DbTransaction transaction, string tenant, CancellationToken cancellationToken) =>
        LockAsync(connection, transaction, JobsLockClass, tenant, cancellationToken);

    // A transaction-scoped advisory lock on (lockClass, the key's hash): keys that share a hash only wait for each other.
    private static async Task LockAsync(DbConnection connection, DbTransaction transaction, int lockClass, string key, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SELECT pg_advisory_xact_lock({lockClass}, hashtext(@key))";
        var parameter = command.CreateParameter();
        parameter.ParameterName = "key";
        parameter.Value = key;
        command.Parameters.Add(parameter);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override string LockRows(RowLock mode) => mode switch
    {
        RowLock.Update => " FOR UPDATE",
        RowLock.Share => " FOR SHARE",
        RowLock.KeyShare => " FOR KEY SHARE",
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    /// <inheritdoc />
    public override bool IsUniqueViolation(Exception exception) =>
        exception is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation };

    /// <inheritdoc />
    public override bool IsForeignKeyViolation(Exception exception) =>
        exception is PostgresException { SqlState: PostgresErrorCodes.ForeignKeyViolation };

    /// <inheritdoc />
    public override bool IsRefusedValue(Exception exception) => exception switch
    {
        // Class 22 is data exceptions (22021: a NUL or invalid UTF-8 in text), 23 integrity constraints, 54 limits.
        PostgresException { SqlState: var state } =>
            state.StartsWith("22", StringComparison.Ordinal) || state.StartsWith("23", StringComparison.Ordinal) || state.StartsWith("54", StringComparison.Ordinal),
        // Npgsql refuses a value it cannot send before anything reaches the server.
        InvalidCastException or ArgumentException or OverflowException => true,
        _ => false,
    };

    /// <inheritdoc />
    public override string Contains(string column, string parameter) => $"strpos({column}, {parameter}) > 0";

    /// <inheritdoc />
    public override string Ordinal(string column) => $"{column} COLLATE \"C\"";

    /// <inheritdoc />
    public override string Ddl(Migration migration) => migration.Postgres;

    /// <inheritdoc />
    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
