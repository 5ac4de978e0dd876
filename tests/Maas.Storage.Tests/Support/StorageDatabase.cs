using Maas.Storage.Sql;

namespace Maas.Storage.Tests.Support;

/// <summary>A fresh, empty database of either kind, removed on dispose.</summary>
public sealed class StorageDatabase : IAsyncDisposable
{
    private readonly string? _folder;
    private readonly string? _postgresName;
    private readonly List<SqlDialect> _dialects = [];

    private StorageDatabase(Db kind, string connectionString, string? folder, string? postgresName)
    {
        Kind = kind;
        ConnectionString = connectionString;
        _folder = folder;
        _postgresName = postgresName;
    }

    /// <summary>The kind.</summary>
    public Db Kind { get; }

    /// <summary>The connection string (SQLite or Npgsql).</summary>
    public string ConnectionString { get; }

    /// <summary>Creates an empty database.</summary>
    public static async Task<StorageDatabase> CreateAsync(Db kind)
    {
        if (kind == Db.Sqlite)
        {
            var folder = Path.Combine(Path.GetTempPath(), "maas-storage-" + Guid.NewGuid().ToString("n"));
            Directory.CreateDirectory(folder);
            return new StorageDatabase(kind, $"Data Source={Path.Combine(folder, "registry.db")}", folder, null);
        }

        var (name, connectionString) = await ScratchPostgres.CreateAsync("maas_s_");
        return new StorageDatabase(kind, connectionString, null, name);
    }

    /// <summary>A new dialect over this database (disposed with it).</summary>
    public SqlDialect Dialect()
    {
        SqlDialect dialect = Kind == Db.Sqlite ? new SqliteDialect(ConnectionString) : new PostgresDialect(ConnectionString);
        lock (_dialects) // tests ask for dialects from parallel tasks; List.Add is not thread-safe
        {
            _dialects.Add(dialect);
        }

        return dialect;
    }

    /// <summary>A new store over this database, migrated.</summary>
    public async Task<SqlRegistryStore> StoreAsync()
    {
        var store = new SqlRegistryStore(Dialect());
        await store.MigrateAsync(CancellationToken.None);
        return store;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var dialect in _dialects)
        {
            await dialect.DisposeAsync();
        }

        if (_folder is not null)
        {
            Directory.Delete(_folder, recursive: true);
        }

        if (_postgresName is not null)
        {
            await ScratchPostgres.DropAsync(_postgresName);
        }
    }
}
