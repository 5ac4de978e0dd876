using Maas.Core.Formats;
using Maas.Core.Jobs;
using Maas.Core.Registry;
using Maas.Storage.Jobs;
using Maas.Storage.Sql;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>The SQL store on a real database: races decided by the database, exactly one winner each.</summary>
public sealed class RegistryStoreTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_000);

    private static async Task<Model> ModelAsync(SqlRegistryStore store, string name = "m") =>
        await store.CreateModelAsync(new NewModel(name, "", ["t1"], null, ModelVisibility.Private, "default", "tests"), Now, CancellationToken.None);

    private static async Task<int> ReadyVersionAsync(SqlRegistryStore store, Model model, int? number = null, long size = 1, string? releasedReservation = null)
    {
        var version = await store.ReserveVersionAsync(model.Id, number, "tests", Now, CancellationToken.None);
        await store.CompleteVersionAsync(
            new ModelVersion
            {
                ModelId = model.Id,
                Model = model.Name,
                Version = version,
                Status = VersionStatus.Ready,
                Format = ModelFormat.Onnx,
                Sha256 = new string('a', 64),
                ArtifactKey = new string('a', 64),
                FileName = "m.onnx",
                Files = [new ArtifactFile("m.onnx", new string('a', 64), size)],
                SizeBytes = size,
            },
            Now,
            CancellationToken.None,
            releasedReservation);
        return version;
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Racing_reservations_of_one_number_have_one_winner(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var store = await database.StoreAsync();
        var model = await ModelAsync(store);
        var stores = Enumerable.Range(0, 8).Select(_ => new SqlRegistryStore(database.Dialect())).ToArray();
        var outcomes = await Task.WhenAll(stores.Select(s => Task.Run(async () =>
        {
            try
            {
                return await s.ReserveVersionAsync(model.Id, 3, "tests", Now, CancellationToken.None);
            }
            catch (RegistryException e) when (e.Code == "version_exists")
            {
                return -1;
            }
        })));
        Assert.Single(outcomes, 3);
        Assert.Equal(7, outcomes.Count(o => o == -1));

        // Automatic numbers under the same pressure: all distinct, after the explicit one, none lost.
        var automatic = await Task.WhenAll(stores.Select(s => Task.Run(() => s.ReserveVersionAsync(model.Id, null, "tests", Now, CancellationToken.None))));
        Assert.Equal(Enumerable.Range(4, 8), automatic.Order());
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Automatic_numbering_past_the_last_version_number_is_refused_without_wrapping(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var store = await database.StoreAsync();
        var model = await ModelAsync(store);
        Assert.Equal(int.MaxValue, await ReadyVersionAsync(store, model, int.MaxValue));

        for (var attempt = 0; attempt < 2; attempt++)
        {
            var refused = await Assert.ThrowsAsync<RegistryException>(() => store.ReserveVersionAsync(model.Id, null, "tests", Now, CancellationToken.None));
            Assert.Equal("version_numbers_exhausted", refused.Code);
            Assert.Contains(int.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture), refused.Message, StringComparison.Ordinal);
        }

        // A free number below the last one is still given on request.
        Assert.Equal(7, await ReadyVersionAsync(store, model, 7));
        Assert.Equal([7, int.MaxValue], (await store.ListVersionsAsync(model.Name, CancellationToken.None)).Select(v => v.Version).Order());
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Racing_alias_moves_with_the_same_precondition_have_one_winner(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var store = await database.StoreAsync();
        var model = await ModelAsync(store);
        for (var i = 0; i < 4; i++)
        {
            await ReadyVersionAsync(store, model);
        }

        var first = await store.SetAliasAsync(model.Id, "production", 1, AliasPrecondition.None, "tests", Now, CancellationToken.None);
        Assert.Equal(1, first.Revision);
        var stores = Enumerable.Range(0, 6).Select(_ => new SqlRegistryStore(database.Dialect())).ToArray();
        var outcomes = await Task.WhenAll(stores.Select((s, i) => Task.Run(async () =>
        {
            try
            {
                return (await s.SetAliasAsync(model.Id, "production", (i % 3) + 2, new AliasPrecondition { Revision = 1 }, "tests", Now, CancellationToken.None)).Revision;
            }
            catch (RegistryException e) when (e.Code == "alias_conflict")
            {
                return -1;
            }
        })));
        Assert.Single(outcomes, 2L);
        Assert.Equal(5, outcomes.Count(o => o == -1));

        // Unconditional moves never conflict; each bumps the revision once.
        await Task.WhenAll(stores.Select(
            (s, i) => Task.Run(() => s.SetAliasAsync(model.Id, "production", (i % 4) + 1, AliasPrecondition.None, "tests", Now, CancellationToken.None))));
        Assert.Equal(8, (await store.GetAliasAsync(model.Id, "production", CancellationToken.None))!.Revision);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Aliases_only_point_at_ready_versions_and_guard_them(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var store = await database.StoreAsync();
        var model = await ModelAsync(store);
        var ready = await ReadyVersionAsync(store, model);
        var uploading = await store.ReserveVersionAsync(model.Id, null, "tests", Now, CancellationToken.None);
        var error = await Assert.ThrowsAsync<RegistryException>(() =>
            store.SetAliasAsync(model.Id, "staging", uploading, AliasPrecondition.None, "tests", Now, CancellationToken.None));
        Assert.Equal("version_not_found", error.Code);
        Assert.Null(await store.GetVersionAsync(model.Name, uploading, CancellationToken.None));

        await store.SetAliasAsync(model.Id, "staging", ready, AliasPrecondition.None, "tests", Now, CancellationToken.None);
        var aliased = await Assert.ThrowsAsync<RegistryException>(() => store.DeleteVersionAsync(model.Id, ready, false, CancellationToken.None));
        Assert.Equal("version_aliased", aliased.Code);
        Assert.Equal(new string('a', 64), await store.DeleteVersionAsync(model.Id, ready, true, CancellationToken.None));
        Assert.Empty(await store.ListAliasesAsync(model.Id, CancellationToken.None));
        Assert.False(await store.IsArtifactReferencedAsync(new string('a', 64), CancellationToken.None));

        Assert.Single(await store.DeleteUploadingVersionsAsync(DateTimeOffset.MaxValue, CancellationToken.None));
        Assert.Empty(await store.DeleteModelAsync(model.Name, CancellationToken.None) ?? ["missing"]);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Models_round_trip_with_tags_and_configuration(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var store = await database.StoreAsync();
        var model = await ModelAsync(store, "round-trip");
        var config = new ServingConfig { InstanceCount = 2, PreferredBatchSizes = [2, 4], MaxBatchSize = 8, MaxQueueDelayMs = 0.5, LoadAtStart = true };
        await store.SetServingConfigAsync(model.Name, config, Now, CancellationToken.None);
        var read = await store.GetModelAsync(model.Name, CancellationToken.None);
        Assert.NotNull(read);
        Assert.Equal(["t1"], read.Tags);
        Assert.Equal(config.PreferredBatchSizes, read.ServingConfig.PreferredBatchSizes);
        Assert.Equal(config with { PreferredBatchSizes = read.ServingConfig.PreferredBatchSizes }, read.ServingConfig);
        Assert.Equal(Now, read.CreatedAt);
        var duplicate = await Assert.ThrowsAsync<RegistryException>(() => ModelAsync(store, "round-trip"));
        Assert.Equal("model_exists", duplicate.Code);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Jobs_persist_and_unfinished_ones_fail_on_recovery(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var store = new SqlJobStore((await database.StoreAsync()).Dialect);
        var job = new Job
        {
            Id = "job1",
            Kind = "import",
            Status = JobStatus.Running,
            Model = "m",
            Tenant = "acme",
            Version = 2,
            BytesDone = 10,
            BytesTotal = 40,
            CreatedAt = Now,
            UpdatedAt = Now
        };
        await store.CreateJobAsync(job, CancellationToken.None);
        await store.CreateJobAsync(job with
        {
            Id = "job2",
            Status = JobStatus.Succeeded,
            CreatedAt = Now.AddSeconds(1),
            Result = new Dictionary<string, object?> { ["version"] = 2 }
        }, CancellationToken.None);
        Assert.Equal(25, (await store.GetJobAsync("job1", CancellationToken.None))!.Progress);
        Assert.Equal(["job2", "job1"], (await store.ListJobsAsync(10, null, null, CancellationToken.None)).Select(j => j.Id));
        await store.CreateJobAsync(job with { Id = "job3", Tenant = "other", CreatedAt = Now.AddSeconds(2) }, CancellationToken.None);
        Assert.Equal(["job2", "job1"], (await store.ListJobsAsync(10, "acme", null, CancellationToken.None)).Select(j => j.Id));
        Assert.Equal(["job3"], (await store.ListJobsAsync(10, "other", null, CancellationToken.None)).Select(j => j.Id));
        Assert.Equal("acme", (await store.GetJobAsync("job1", CancellationToken.None))!.Tenant);
        Assert.Equal(2, await store.FailUnfinishedJobsAsync(new JobError("interrupted", "restart"), Now, DateTimeOffset.MaxValue, CancellationToken.None));
        var failed = await store.GetJobAsync("job1", CancellationToken.None);
        Assert.Equal(JobStatus.Failed, failed!.Status);
        Assert.Equal("interrupted", failed.Error!.Code);
        Assert.Equal(JobStatus.Succeeded, (await store.GetJobAsync("job2", CancellationToken.None))!.Status);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Bytes_of_a_stored_version_count_once_never_as_both_stored_and_reserved_nor_as_neither(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        var store = await database.StoreAsync();
        var model = await ModelAsync(store);
        var owner = model.Owner;
        StorageReservationRequest Request(string id, long bytes) => new(id, owner, bytes, 0, long.MaxValue / 4, Now, Now.AddHours(1), []);

        // A reader checks the tenant's use over and over while uploads of 100 bytes each reserve, then store, their
        // bytes: what it sees only grows (a version stored before its reservation is dropped, or read between the two,
        // would show a step back).
        var rounds = 25;
        var done = new CancellationTokenSource();
        var seen = new List<long>();
        var reader = Task.Run(async () =>
        {
            var probe = new SqlRegistryStore(database.Dialect());
            while (!done.IsCancellationRequested)
            {
                var use = await probe.ReserveStorageAsync(Request("probe", 1), CancellationToken.None);
                seen.Add(use.Stored + use.Reserved);
            }
        });

        for (var i = 1; i <= rounds; i++)
        {
            var reserved = await store.ReserveStorageAsync(Request($"upload-{i}", 100), CancellationToken.None);
            Assert.Equal(100, reserved.Granted);
            await ReadyVersionAsync(store, model, size: 100, releasedReservation: $"upload-{i}");
        }

        await done.CancelAsync();
        await reader;
        done.Dispose();
        await store.ReleaseStorageAsync("probe", CancellationToken.None);
        var after = await store.ReserveStorageAsync(Request("after", 1), CancellationToken.None);
        Assert.Equal((100L * rounds, 0L), (after.Stored, after.Reserved));
        Assert.NotEmpty(seen);
        for (var i = 1; i < seen.Count; i++)
        {
            Assert.True(seen[i] >= seen[i - 1], $"the tenant's use went from {seen[i - 1]} to {seen[i]} bytes at read {i}: " + string.Join(", ", seen));
        }
    }
}
