using System.Data.Common;
using Dapper;
using Maas.Storage.Sql;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>Schema migrations: created on first start, idempotent, safe when servers start together, refuse a newer schema.</summary>
public sealed class MigrationTests
{
    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_fresh_database_gets_every_step_once(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var dialect = database.Dialect();
        var applied = await MigrationRunner.MigrateAsync(dialect, Migrations.All, DateTimeOffset.UtcNow, CancellationToken.None);
        Assert.Equal(Migrations.All.Select(m => m.Version), applied);
        Assert.Empty(await MigrationRunner.MigrateAsync(dialect, Migrations.All, DateTimeOffset.UtcNow, CancellationToken.None));

        await using var connection = await dialect.OpenAsync(CancellationToken.None);
        var versions = await connection.QueryAsync<long>("SELECT version FROM schema_migrations ORDER BY version");
        Assert.Equal(Migrations.All.Select(m => (long)m.Version), versions);
        foreach (var table in new[] { "models", "model_tags", "model_versions", "model_aliases", "upload_sessions", "jobs" })
        {
            Assert.Equal(0, await connection.ExecuteScalarAsync<long>($"SELECT COUNT(*) FROM {table}"));
        }

        if (db == Db.Sqlite)
        {
            Assert.Equal("wal", await connection.ExecuteScalarAsync<string>("PRAGMA journal_mode"));
        }
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Servers_starting_together_migrate_once(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ =>
            Task.Run(() => MigrationRunner.MigrateAsync(database.Dialect(), Migrations.All, DateTimeOffset.UtcNow, CancellationToken.None))));
        Assert.Single(results, r => r.Count > 0);
        await using var connection = await database.Dialect().OpenAsync(CancellationToken.None);
        Assert.Equal(Migrations.All.Count, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM schema_migrations"));
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_newer_schema_stops_the_start_with_a_clear_message(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var dialect = database.Dialect();
        await MigrationRunner.MigrateAsync(dialect, Migrations.All, DateTimeOffset.UtcNow, CancellationToken.None);
        await using (DbConnection connection = await dialect.OpenAsync(CancellationToken.None))
        {
            await connection.ExecuteAsync("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', 0)");
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            MigrationRunner.MigrateAsync(dialect, Migrations.All, DateTimeOffset.UtcNow, CancellationToken.None));
        Assert.Contains("999", error.Message);
        Assert.Contains("newer", error.Message);
    }

    [Fact]
    public void Each_step_has_both_databases_and_versions_increase()
    {
        var versions = Migrations.All.Select(m => m.Version).ToArray();
        Assert.Equal(versions.Order(), versions);
        Assert.Equal(versions.Length, versions.Distinct().Count());
        Assert.All(Migrations.All, m =>
        {
            Assert.False(string.IsNullOrWhiteSpace(m.Sqlite));
            Assert.False(string.IsNullOrWhiteSpace(m.Postgres));
        });
    }
}
