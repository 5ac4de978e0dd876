using Microsoft.Data.Sqlite;
using Npgsql;

namespace Maas.Server.Tests.Support;

/// <summary>Reads a server's registry database directly, to check what the API cannot show (rows a crash left).</summary>
public static class RegistryDatabase
{
    /// <summary>Runs a scalar query against the server's database (its SQLite file, or the test's PostgreSQL database).</summary>
    public static async Task<long> ScalarAsync(TestDatabase database, string dataDir, string sql)
    {
        if (database.Kind == Db.Postgres)
        {
            await using var pg = new NpgsqlConnection(database.ConnectionString);
            await pg.OpenAsync();
            await using var command = new NpgsqlCommand(sql, pg);
            return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
        }

        await using var sqlite = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataDir, "registry.db"), Pooling = false }.ToString());
        await sqlite.OpenAsync();
        await using var query = sqlite.CreateCommand();
        query.CommandText = sql;
        return Convert.ToInt64(await query.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
