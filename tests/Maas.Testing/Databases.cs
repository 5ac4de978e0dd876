using Npgsql;

namespace Maas.Testing;

/// <summary>Which database a test runs on.</summary>
public enum Db
{
    /// <summary>The embedded default: a SQLite file.</summary>
    Sqlite,

    /// <summary>A fresh database on the PostgreSQL server named by MAAS_TEST_POSTGRES.</summary>
    Postgres,
}

/// <summary>Fresh, uniquely named databases on the PostgreSQL server that MAAS_TEST_POSTGRES names, for one test each.</summary>
public static class ScratchPostgres
{
    /// <summary>The variable with an Npgsql connection string to a server where tests may create databases.</summary>
    public const string Variable = "MAAS_TEST_POSTGRES";

    /// <summary>The server's connection string from the environment, or null.</summary>
    public static string? Server => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : null;

    /// <summary>Why PostgreSQL tests are skipped, or null when they can run.</summary>
    public static string? SkipReason => Server is null
        ? $"PostgreSQL tests need {Variable} (an Npgsql connection string); run `source <(bash .ci/postgres.sh)` first"
        : null;

    /// <summary>Creates an empty database named <paramref name="prefix"/> and a random suffix; returns its name and connection string.</summary>
    public static async Task<(string Name, string ConnectionString)> CreateAsync(string prefix)
    {
        var admin = Server ?? throw new InvalidOperationException(SkipReason);
        var name = prefix + Guid.NewGuid().ToString("n")[..16];
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }

        return (name, new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString);
    }

    /// <summary>Drops a database made by <see cref="CreateAsync"/>, closing whatever connections still use it.</summary>
    public static async Task DropAsync(string name)
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(Server ?? throw new InvalidOperationException(SkipReason));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
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
        Skip = ScratchPostgres.SkipReason;
    }

    /// <inheritdoc />
    public override IEnumerable<object[]> GetData(System.Reflection.MethodInfo testMethod) => [[Db.Postgres]];
}
