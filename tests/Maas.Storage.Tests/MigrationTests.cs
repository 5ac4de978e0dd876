using System.Data.Common;
using Dapper;
using Maas.Core.Registry;
using Maas.Storage.Jobs;
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
        // Step 950 rewrites import jobs by their tenant column, which step 2 adds: it runs after it, as on a real database.
        var before = Migrations.All.Where(m => m.Version is not 2 and not 950).ToArray();
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

        Assert.Equal([2, 950], await MigrationRunner.MigrateAsync(dialect, Migrations.All, DateTimeOffset.UtcNow, CancellationToken.None));

        var store = new SqlJobStore(dialect);
        Assert.Equal("acme", (await store.GetJobAsync("j1", CancellationToken.None))!.Tenant);
        Assert.Null((await store.GetJobAsync("j2", CancellationToken.None))!.Tenant); // Admins only.
        Assert.Equal(["j1"], (await store.ListJobsAsync(10, "acme", null, CancellationToken.None)).Select(j => j.Id));
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Import_jobs_that_recorded_a_short_model_name_name_their_model_by_its_key(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var dialect = database.Dialect();
        var step = Migrations.All.Single(m => m.Name == "import_jobs_model_keys");
        await MigrationRunner.MigrateAsync(dialect, Migrations.All.Where(m => m != step).ToArray(), DateTimeOffset.UtcNow, CancellationToken.None);
        await using (DbConnection connection = await dialect.OpenAsync(CancellationToken.None))
        {
            // j1 as the importer wrote it before the fix (acme's "faces" by its short name), j2 after it; j3 a default
            // tenant's model (its key is its name), j4 of a model deleted since (no tenant), j5 another kind of job.
            foreach (var (id, kind, model, tenant) in new[]
            {
                ("j1", "import", "faces", "acme"), ("j2", "import", "acme/faces", "acme"), ("j3", "import", "llm", "default"),
                ("j4", "import", "gone", (string?)null), ("j5", "other", "faces", "acme"),
            })
            {
                await connection.ExecuteAsync(
                    "INSERT INTO jobs (id, kind, status, model, created_by, created_at, updated_at, tenant) VALUES (@Id, @Kind, 'succeeded', @Model, 't', 0, 0, @Tenant)",
                    new { Id = id, Kind = kind, Model = model, Tenant = tenant });
            }
        }

        Assert.Equal([step.Version], await MigrationRunner.MigrateAsync(dialect, Migrations.All, DateTimeOffset.UtcNow, CancellationToken.None));
        string[] expected = ["acme/faces", "acme/faces", "llm", "gone", "faces"];
        var store = new SqlJobStore(dialect);
        async Task<string?[]> ModelsAsync() =>
            await Task.WhenAll(new[] { "j1", "j2", "j3", "j4", "j5" }.Select(async id => (await store.GetJobAsync(id, CancellationToken.None))!.Model));
        Assert.Equal(expected, await ModelsAsync());

        // Idempotent: the step run again changes nothing.
        await using (DbConnection connection = await dialect.OpenAsync(CancellationToken.None))
        {
            await connection.ExecuteAsync(db == Db.Sqlite ? step.Sqlite : step.Postgres);
        }

        Assert.Equal(expected, await ModelsAsync());
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_registry_from_before_per_tenant_names_keeps_every_model_version_alias_tag_session_and_artifact(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var dialect = database.Dialect();
        await MigrationRunner.MigrateAsync(dialect, Migrations.All.Where(m => m.Version != 3).ToArray(), DateTimeOffset.UtcNow, CancellationToken.None);
        var keys = new[] { new string('a', 64), new string('b', 64), new string('c', 64) };
        await using (DbConnection connection = await dialect.OpenAsync(CancellationToken.None))
        {
            foreach (var (name, owner, visibility) in new[] { ("faces", "acme", "shared"), ("llm", "default", "private") })
            {
                await connection.ExecuteAsync(
                    "INSERT INTO models (name, tags, visibility, owner, serving_config, next_version, created_by, created_at, updated_at) VALUES (@Name, '[\"t\"]', @Visibility, " +
                    "@Owner, '{\"threads\":2}', 3, 'k', 0, 0)",
                    new { Name = name, Owner = owner, Visibility = visibility });
            }

            var faces = await connection.ExecuteScalarAsync<long>("SELECT id FROM models WHERE name = 'faces'");
            var llm = await connection.ExecuteScalarAsync<long>("SELECT id FROM models WHERE name = 'llm'");
            await connection.ExecuteAsync("INSERT INTO model_tags (model_id, tag) VALUES (@Id, 't')", new[] { new { Id = faces }, new { Id = llm } });
            var versions = new[] { (faces, 1L, keys[0]), (faces, 2L, keys[1]), (llm, 1L, keys[2]) };
            foreach (var (id, version, key) in versions)
            {
                await connection.ExecuteAsync(
                    """
                    INSERT INTO model_versions (model_id, version, status, format, sha256, size_bytes, file_name, artifact_key, files, derived_from_model, derived_from_version,
                    derivation, created_by, created_at)
                    VALUES (@Id, @Version, 'ready', 'onnx', @Key, 1, 'm.onnx', @Key, @Files, @From, @FromVersion, @Relation, 'k', 0)
                    """,
                    new
                    {
                        Id = id,
                        Version = version,
                        Key = key,
                        Files = $"[{{\"path\":\"m.onnx\",\"sha256\":\"{key}\",\"size_bytes\":1}}]",
                        From = version == 2 ? "faces" : null,
                        FromVersion = version == 2 ? (long?)1 : null,
                        Relation = version == 2 ? "quantized_from" : null,
                    });
            }

            await connection.ExecuteAsync(
                "INSERT INTO model_aliases (model_id, alias, version, revision, updated_by, updated_at) VALUES (@Id, 'production', 2, 4, 'k', 0)", new { Id = faces });
            await connection.ExecuteAsync(
                "INSERT INTO upload_sessions (id, model_id, file_name, created_by, created_at, expires_at) VALUES (@Session, @Id, 'm.onnx', 'k', 0, 9999999999999)",
                new { Session = new string('d', 32), Id = faces });
            await connection.ExecuteAsync(
                "INSERT INTO jobs (id, kind, status, model, created_by, created_at, updated_at) VALUES ('j1', 'import', 'succeeded', 'faces', 'k', 0, 0)");
            await connection.ExecuteAsync(
                "INSERT INTO dataset_uses (dataset, dataset_version, model_id, model_version) VALUES ('rows', 1, @Id, 1)", new { Id = faces });
        }

        Assert.Equal([3], await MigrationRunner.MigrateAsync(dialect, Migrations.All, DateTimeOffset.UtcNow, CancellationToken.None));

        await using var store = new SqlRegistryStore(dialect);
        var none = CancellationToken.None;
        Assert.Null(await store.GetModelAsync("faces", none)); // a bare key is the default tenant's
        var migrated = await store.GetModelAsync("acme/faces", none);
        Assert.NotNull(migrated);
        Assert.Equal(("acme", "faces", ModelVisibility.Shared, 2), (migrated.Owner, migrated.Name, migrated.Visibility, migrated.LatestVersion));
        Assert.Equal(2, migrated.ServingConfig.Threads);
        Assert.Equal("llm", (await store.GetModelAsync("llm", none))?.Key);
        Assert.Equal(2, (await store.ListModelsAsync(new ModelQuery { Tags = ["t"] }, none)).Total);

        var faceVersions = await store.ListVersionsAsync("acme/faces", none);
        Assert.Equal([1, 2], faceVersions.Select(v => v.Version));
        Assert.All(faceVersions, v => Assert.Equal("acme/faces", v.Model));
        Assert.Equal(["production"], faceVersions[1].Aliases);
        Assert.Equal(new Lineage("acme/faces", 1, "quantized_from"), faceVersions[1].DerivedFrom); // names became keys
        var alias = await store.GetAliasAsync(migrated.Id, "production", none);
        Assert.Equal((2, 4L), (alias!.Version, alias.Revision));
        Assert.Equal("acme/faces", Assert.Single(await store.ListUploadSessionsAsync(none)).Model);
        Assert.Equal(keys.ToHashSet(), (await store.ListArtifactKeysAsync(none)).ToHashSet());
        Assert.Equal("acme/faces", (await new SqlJobStore(dialect).GetJobAsync("j1", none))?.Model);
        await using (DbConnection connection = await dialect.OpenAsync(none))
        {
            Assert.Equal(1, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM dataset_uses"));
        }

        // Names are now per tenant: another tenant (and the default one) may take "faces", the same tenant may not.
        var at = DateTimeOffset.UtcNow;
        var beta = await store.CreateModelAsync(new NewModel("faces", "", [], null, ModelVisibility.Private, "beta", "k"), at, none);
        Assert.Equal("beta/faces", beta.Key);
        Assert.Equal("faces", (await store.CreateModelAsync(new NewModel("faces", "", [], null, ModelVisibility.Private, "default", "k"), at, none)).Key);
        var taken = await Assert.ThrowsAsync<RegistryException>(() => store.CreateModelAsync(new NewModel("faces", "", [], null, ModelVisibility.Private, "acme", "k"), at, none));
        Assert.Equal("model_exists", taken.Code);
        Assert.Equal(3, (await store.ListModelsAsync(new ModelQuery { Name = "faces" }, none)).Total);

        // Foreign keys still hold after the rebuild: an alias cannot point at a version that does not exist.
        var missing = await Assert.ThrowsAsync<RegistryException>(() => store.SetAliasAsync(beta.Id, "production", 7, AliasPrecondition.None, "k", at, none));
        Assert.Equal("version_not_found", missing.Code);
        await using (DbConnection connection = await dialect.OpenAsync(none))
        {
            await Assert.ThrowsAnyAsync<DbException>(() => connection.ExecuteAsync(
                "INSERT INTO model_aliases (model_id, alias, version, revision, updated_by, updated_at) VALUES (@Id, 'x', 9, 1, 'k', 0)", new { Id = beta.Id }));
        }
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
