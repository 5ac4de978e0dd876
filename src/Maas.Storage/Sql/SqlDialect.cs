using System.Data.Common;

namespace Maas.Storage.Sql;

/// <summary>What differs between the SQL databases the registry runs on: connections, DDL, errors, locking.</summary>
public abstract class SqlDialect : IAsyncDisposable
{
    /// <summary>"sqlite" or "postgres".</summary>
    public abstract string Provider { get; }

    /// <summary>Opens a connection ready for use (pragmas set).</summary>
    public abstract Task<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>True when <paramref name="exception"/> is a unique or primary key violation.</summary>
    public abstract bool IsUniqueViolation(Exception exception);

    /// <summary>True when <paramref name="exception"/> is a foreign key violation.</summary>
    public abstract bool IsForeignKeyViolation(Exception exception);

    /// <summary>
    /// True when the database refused the values of a statement (bad text, a missing required value, a number out of
    /// range): the same values fail again on every retry, while the database itself is fine.
    /// </summary>
    public abstract bool IsRefusedValue(Exception exception);

    /// <summary>SQL that is true when <paramref name="column"/> contains the text of <paramref name="parameter"/>.</summary>
    public abstract string Contains(string column, string parameter);

    /// <summary>
    /// SQL for <paramref name="column"/> as text compared and sorted by character codes (as .NET's ordinal comparison
    /// does), whatever the database's collation: for orders that code outside the database must repeat.
    /// </summary>
    public abstract string Ordinal(string column);

    /// <summary>The DDL of a migration for this database.</summary>
    public abstract string Ddl(Migration migration);

    /// <summary>Runs before migrations, outside any transaction (SQLite switches to WAL here).</summary>
    public virtual Task PrepareAsync(DbConnection connection, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Runs inside the migration transaction after the last step: fails the migration if the data broke a rule.</summary>
    public virtual Task VerifyMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Runs after the migration transaction ended, outside it, on the same connection (undoes <see cref="PrepareAsync"/>).</summary>
    public virtual Task FinishMigrationAsync(DbConnection connection, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Keeps two servers starting at once from migrating together (the transaction holds the lock).</summary>
    public abstract Task LockForMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken);

    /// <summary>
    /// Keeps two storage reservations of <paramref name="owner"/> from being checked at once, on any server (the
    /// transaction holds the lock until it ends).
    /// </summary>
    public abstract Task LockOwnerStorageAsync(DbConnection connection, DbTransaction transaction, string owner, CancellationToken cancellationToken);

    /// <summary>
    /// Keeps two job submissions of <paramref name="tenant"/> from counting its unfinished jobs at once, on any server
    /// (the transaction holds the lock until it ends).
    /// </summary>
    public abstract Task LockTenantJobsAsync(DbConnection connection, DbTransaction transaction, string tenant, CancellationToken cancellationToken);

    /// <summary>
    /// The clause that ends a SELECT to lock the rows it reads as <paramref name="mode"/> asks until the transaction
    /// ends, with its leading space; empty where the transaction already excludes every other writer.
    /// </summary>
    public abstract string LockRows(RowLock mode);

    /// <inheritdoc />
    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
