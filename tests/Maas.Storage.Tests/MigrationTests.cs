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

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Jobs_recorded_before_tenants_were_kept_on_them_take_their_models_owner(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var dialect = database.Dialect();
        var before = Migrations.All.Where(m => m.Version != 2).ToArray();
        await MigrationRunner.MigrateAsync(dialect, before, DateTimeOffset.UtcNow, CancellationToken.None);
        await using (DbConnection connection = await dialect.OpenAsync(CancellationToken.None))
        {
            await connection.ExecuteAsync(
                "INSERT INTO models (name, visibility, owner, created_by, created_at, updated_at) VALUES ('faces', 'private', 'acme', 't', 0, 0)");
            foreach (var (id, model) in new[] { ("j1", "faces"), ("j2", "deleted-since") })
            {
                await connection.ExecuteAsync(
                    "INSERT INTO jobs (id, kind, status, model, created_by, created_at, updated_at) VALUES (@Id, 'import', 'succeeded', @Model, 't', 0, 0)",
                    new { Id = id, Model = model });
            }
        }

        Assert.Equal([2], await MigrationRunner.MigrateAsync(dialect, Migrations.All, DateTimeOffset.UtcNow, CancellationToken.None));

        await using var store = new SqlRegistryStore(dialect);
        Assert.Equal("acme", (await store.GetJobAsync("j1", CancellationToken.None))!.Tenant);
        Assert.Null((await store.GetJobAsync("j2", CancellationToken.None))!.Tenant); // Admins only.
        Assert.Equal(["j1"], (await store.ListJobsAsync(10, "acme", CancellationToken.None)).Select(j => j.Id));
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
