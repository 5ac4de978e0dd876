using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Maas.Storage.Sql;

/// <summary>SQLite: one embedded file under the data folder, WAL journal, foreign keys on.</summary>
public sealed class SqliteDialect : SqlDialect
{
    private const int SqliteConstraint = 19;
    private const int SqliteConstraintForeignKey = 787;
    private const int SqliteConstraintPrimaryKey = 1555;
    private const int SqliteConstraintUnique = 2067;

    private readonly string _connectionString;

    /// <summary>Uses the database file at <paramref name="path"/> (created with its folder when missing).</summary>
    public static SqliteDialect ForFile(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        return new SqliteDialect(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            ForeignKeys = true,
            DefaultTimeout = 30,
        }.ToString());
    }

    /// <summary>Uses a full Microsoft.Data.Sqlite connection string.</summary>
    public SqliteDialect(string connectionString)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString) { ForeignKeys = true };
        _connectionString = builder.ToString();
    }

    /// <inheritdoc />
    public override string Provider => "sqlite";

    /// <inheritdoc />
    public override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var command = connection.CreateCommand();
            // NORMAL is safe with WAL: a killed process loses nothing committed; busy_timeout lets writers queue.
            command.CommandText = "PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 30000;";
            try
            {
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (SqliteException e) when (e.Message.Contains("inside a transaction", StringComparison.Ordinal))
            {
                // The pool handed back a handle whose earlier user's transaction is still open (seen once under racing
                // writers: a rollback that did not happen). That work was abandoned, so it is rolled back here and the
                // handle set up as a fresh one, rather than failing this caller or leaving its locks held.
                await using var rollback = connection.CreateCommand();
                rollback.CommandText = "ROLLBACK";
                await rollback.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    public override async Task PrepareAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        // Foreign keys are off while the schema changes (SQLite's documented way to rebuild a table: a DROP would
        // otherwise cascade into the rows that point at it); VerifyMigrationAsync checks them all before the commit.
        command.CommandText = "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = OFF;";
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override async Task VerifyMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "PRAGMA foreign_key_check;";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException(
                $"the SQLite schema migration left a row of table '{reader.GetString(0)}' pointing at a missing row of '{reader.GetString(2)}'; nothing was changed");
        }
    }

    /// <inheritdoc />
    public override async Task FinishMigrationAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA foreign_keys = ON;";
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override Task LockForMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) =>
        Task.CompletedTask; // Microsoft.Data.Sqlite begins transactions IMMEDIATE: the write lock is already held.

    /// <inheritdoc />
    public override Task LockOwnerStorageAsync(DbConnection connection, DbTransaction transaction, string owner, CancellationToken cancellationToken) =>
        Task.CompletedTask; // the IMMEDIATE transaction holds the database's one write lock already

    /// <inheritdoc />
    public override Task LockTenantJobsAsync(DbConnection connection, DbTransaction transaction, string tenant, CancellationToken cancellationToken) =>
        Task.CompletedTask; // as above: the IMMEDIATE transaction already excludes every other writer

    /// <inheritdoc />
    public override string LockRows(RowLock mode) => ""; // SQLite has no row locks; the IMMEDIATE transaction excludes every other writer

    /// <inheritdoc />
    public override bool IsUniqueViolation(Exception exception) =>
        exception is SqliteException { SqliteErrorCode: SqliteConstraint } e
        && e.SqliteExtendedErrorCode is SqliteConstraintUnique or SqliteConstraintPrimaryKey;

    /// <inheritdoc />
    public override bool IsForeignKeyViolation(Exception exception) =>
        exception is SqliteException { SqliteErrorCode: SqliteConstraint, SqliteExtendedErrorCode: SqliteConstraintForeignKey };

    /// <inheritdoc />
    public override bool IsRefusedValue(Exception exception) => exception switch
    {
        // SQLITE_TOOBIG, SQLITE_CONSTRAINT, SQLITE_MISMATCH, SQLITE_RANGE: the row, not the database, is the problem.
        SqliteException { SqliteErrorCode: 18 or SqliteConstraint or 20 or 25 } => true,
        InvalidCastException or ArgumentException or OverflowException => true,
        _ => false,
    };

    /// <inheritdoc />
    public override string Contains(string column, string parameter) => $"instr({column}, {parameter}) > 0";

    /// <inheritdoc />
    public override string Ordinal(string column) => column; // BINARY, SQLite's default collation: byte order of UTF-8

    /// <inheritdoc />
    public override string Ddl(Migration migration) => migration.Sqlite;

    /// <inheritdoc />
    public override ValueTask DisposeAsync()
    {
        // Releases this database's pooled handles so the file can be deleted and the WAL is checkpointed. Only its own
        // pool: clearing every pool disposes handles that another database's OpenAsync may be taking at that moment
        // (Microsoft.Data.Sqlite then throws ObjectDisposedException from Open), as when one of several servers in a
        // process stops.
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
        return ValueTask.CompletedTask;
    }
}
