using Maas.Storage.Sql;
using Npgsql;

namespace Maas.Storage.Tests.Support;

/// <summary>Which database a storage test runs on.</summary>
public enum Db
{
    /// <summary>A SQLite file in a temporary folder.</summary>
    Sqlite,

    /// <summary>A fresh database on the server named by MAAS_TEST_POSTGRES.</summary>
    Postgres,
}

/// <summary>A fresh, empty database of either kind, removed on dispose.</summary>
public sealed class StorageDatabase : IAsyncDisposable
{
    /// <summary>The variable with an Npgsql connection string to a server where tests may create databases.</summary>
    public const string PostgresVariable = "MAAS_TEST_POSTGRES";

    private readonly string? _folder;
    private readonly string? _postgresName;
    private readonly string? _admin;
    private readonly List<SqlDialect> _dialects = [];

    private StorageDatabase(Db kind, string connectionString, string? folder, string? postgresName, string? admin)
    {
        Kind = kind;
        ConnectionString = connectionString;
        _folder = folder;
        _postgresName = postgresName;
        _admin = admin;
    }

    /// <summary>Why PostgreSQL tests are skipped, or null when they can run.</summary>
    public static string? PostgresSkipReason => Environment.GetEnvironmentVariable(PostgresVariable) is { Length: > 0 }
        ? null
        : $"PostgreSQL tests need {PostgresVariable} (an Npgsql connection string); run `source <(bash .ci/postgres.sh)` first";

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
            return new StorageDatabase(kind, $"Data Source={Path.Combine(folder, "registry.db")}", folder, null, null);
        }

        var admin = Environment.GetEnvironmentVariable(PostgresVariable) ?? throw new InvalidOperationException(PostgresSkipReason);
        var name = "maas_s_" + Guid.NewGuid().ToString("n")[..16];
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }

        return new StorageDatabase(kind, new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString, null, name, admin);
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
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(_folder, recursive: true);
        }

        if (_postgresName is not null && _admin is not null)
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(_admin);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_postgresName} WITH (FORCE)", connection);
            await command.ExecuteNonQueryAsync();
        }
    }
}

/// <summary>Runs a theory on SQLite.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class OnSqliteAttribute : Xunit.Sdk.DataAttribute
{
    /// <inheritdoc />
    public override IEnumerable<object[]> GetData(System.Reflection.MethodInfo testMethod) => [[Db.Sqlite]];
}

/// <summary>Runs a theory on PostgreSQL; skipped, with the reason, when MAAS_TEST_POSTGRES is unset.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class OnPostgresAttribute : Xunit.Sdk.DataAttribute
{
    /// <summary>Sets the skip reason when no PostgreSQL server is configured.</summary>
    public OnPostgresAttribute()
    {
        Skip = StorageDatabase.PostgresSkipReason;
    }

    /// <inheritdoc />
    public override IEnumerable<object[]> GetData(System.Reflection.MethodInfo testMethod) => [[Db.Postgres]];
}
