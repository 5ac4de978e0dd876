using Maas.Testing;

namespace Maas.Server.Tests.Support;

/// <summary>
/// A database for one test server: nothing to do for SQLite (the server creates its file), a fresh database
/// on the MAAS_TEST_POSTGRES server for PostgreSQL, dropped on dispose.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private TestDatabase(Db kind, string? connectionString, string? databaseName)
    {
        Kind = kind;
        ConnectionString = connectionString;
        DatabaseName = databaseName;
    }

    /// <summary>The kind.</summary>
    public Db Kind { get; }

    /// <summary>The PostgreSQL connection string of the fresh database (null for SQLite).</summary>
    public string? ConnectionString { get; }

    /// <summary>The fresh database's name (null for SQLite).</summary>
    public string? DatabaseName { get; }

    /// <summary>The server settings that select this database.</summary>
    public IReadOnlyDictionary<string, string?> Settings => Kind == Db.Postgres
        ? new Dictionary<string, string?> { ["Maas:Database:Provider"] = "postgres", ["Maas:Database:ConnectionString"] = ConnectionString }
        : new Dictionary<string, string?>();

    /// <summary>Creates the database for <paramref name="kind"/>.</summary>
    public static async Task<TestDatabase> CreateAsync(Db kind)
    {
        if (kind == Db.Sqlite)
        {
            return new TestDatabase(kind, null, null);
        }

        var (name, connectionString) = await ScratchPostgres.CreateAsync("maas_t_");
        return new TestDatabase(kind, connectionString, name);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (DatabaseName is not null)
        {
            await ScratchPostgres.DropAsync(DatabaseName);
        }
    }
}
