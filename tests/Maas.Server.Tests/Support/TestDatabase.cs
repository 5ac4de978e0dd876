using Npgsql;

namespace Maas.Server.Tests.Support;

/// <summary>Which database a test runs the server on.</summary>
public enum Db
{
    /// <summary>The embedded default: a file in the server's data folder.</summary>
    Sqlite,

    /// <summary>A fresh database on the PostgreSQL server named by MAAS_TEST_POSTGRES.</summary>
    Postgres,
}

/// <summary>
/// A database for one test server: nothing to do for SQLite (the server creates its file), a fresh database
/// on the MAAS_TEST_POSTGRES server for PostgreSQL, dropped on dispose.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    /// <summary>The variable with an Npgsql connection string to a server where tests may create databases.</summary>
    public const string PostgresVariable = "MAAS_TEST_POSTGRES";

    private readonly string? _adminConnectionString;

    private TestDatabase(Db kind, string? connectionString, string? databaseName, string? adminConnectionString)
    {
        Kind = kind;
        ConnectionString = connectionString;
        DatabaseName = databaseName;
        _adminConnectionString = adminConnectionString;
    }

    /// <summary>The PostgreSQL connection string from the environment, or null.</summary>
    public static string? PostgresServer => Environment.GetEnvironmentVariable(PostgresVariable) is { Length: > 0 } value ? value : null;

    /// <summary>Why PostgreSQL tests are skipped, or null when they can run.</summary>
    public static string? PostgresSkipReason => PostgresServer is null
        ? $"PostgreSQL tests need {PostgresVariable} (an Npgsql connection string); run `source <(bash .ci/postgres.sh)` first"
        : null;

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
            return new TestDatabase(kind, null, null, null);
        }

        var admin = PostgresServer ?? throw new InvalidOperationException(PostgresSkipReason);
        var name = "maas_t_" + Guid.NewGuid().ToString("n")[..16];
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(admin) { Database = name };
        return new TestDatabase(kind, builder.ConnectionString, name, admin);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_adminConnectionString is null || DatabaseName is null)
        {
            return;
        }

        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(_adminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {DatabaseName} WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
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
        Skip = TestDatabase.PostgresSkipReason;
    }

    /// <inheritdoc />
    public override IEnumerable<object[]> GetData(System.Reflection.MethodInfo testMethod) => [[Db.Postgres]];
}
