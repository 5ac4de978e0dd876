using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;
using Maas.Storage.Sql;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Tenancy;

/// <summary>
/// Deleting a tenant while a model, a dataset, a fine-tuning file, a queued job and a key are created for it, all at once, on each database: either the adds win and
/// the delete is refused tenant_not_empty, or the delete wins and the adds are refused tenant_not_found. Without the
/// tenant row lock (PostgreSQL) an add could land after the delete counted what the tenant owns.
/// </summary>
public sealed class TenantDeleteRaceTests
{
    // Tenants raced; each races one model create, one dataset create, one file upload, one job submission, one key create and one delete.
    private const int Rounds = 40;

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Nothing_it_owns_is_left_with_a_tenant_deleted_at_the_same_moment(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        await using var host = await TenancyHost.StartAsync(database: database);
        var manager = host.Server.Services.GetRequiredService<TenancyManager>();
        var registry = host.Server.Services.GetRequiredService<IModelRegistry>();
        var models = host.Server.Services.GetRequiredService<SqlRegistryStore>();
        var datasets = host.Server.Services.GetRequiredService<Maas.Core.Datasets.IDatasetStore>();
        var files = host.Server.Services.GetRequiredService<Maas.Core.FineTuning.IFineTuningFileStore>();
        var jobs = host.Server.Services.GetRequiredService<Maas.Core.Jobs.Queue.IJobQueueStore>();
        var tenants = new List<string>();
        for (var i = 0; i < Rounds; i++)
        {
            tenants.Add(await host.CreateTenantAsync());
        }

        // The model goes straight to the registry, past the endpoint's own look-up of the owner: only the store's lock is left.
        var races = tenants.Select((tenant, i) => RaceAsync(manager, registry, datasets, files, jobs, tenant, deleteFirst: i % 2 == 0)).ToArray();
        var outcomes = await Task.WhenAll(races);

        for (var i = 0; i < Rounds; i++)
        {
            var (tenant, deleted, modelCreated, datasetCreated, fileCreated, jobQueued, keyCreated) = outcomes[i];
            var live = await manager.Store.GetTenantAsync(tenant, CancellationToken.None);
            var model = await models.GetModelAsync(ModelKeys.Of(tenant, "m"), CancellationToken.None);
            var dataset = await datasets.GetDatasetAsync(DatasetName(tenant), CancellationToken.None);
            var file = await files.GetAsync(FileId(tenant), CancellationToken.None);
            var job = await jobs.GetAsync(JobId(tenant), CancellationToken.None);
            var keys = await manager.Store.ListKeysAsync(tenant, includeRevoked: false, CancellationToken.None);
            Assert.Equal(deleted, live is null);
            Assert.Equal(modelCreated, model is not null);
            Assert.Equal(datasetCreated, dataset is not null);
            Assert.Equal(fileCreated, file is not null);
            Assert.Equal(jobQueued, job is not null);
            if (deleted)
            {
                Assert.Null(model); // the invariant: nothing owned by a deleted tenant
                Assert.Null(dataset);
                Assert.Null(file);
                Assert.Null(job); // no worker runs this kind: a job that won stays queued and blocks the delete
                Assert.Empty(keys); // a key that won was revoked by the delete; one that lost was never stored
            }
            else
            {
                // keys do not block a delete
                Assert.True(modelCreated || datasetCreated || fileCreated || jobQueued, $"{tenant}: the delete was refused though nothing it owns was added");
                Assert.Equal(keyCreated ? 1 : 0, keys.Count);
            }
        }
    }

    private static string DatasetName(string tenant) => tenant + "-ds";

    private static string FileId(string tenant) => "file-" + tenant;

    private static string JobId(string tenant) => "job-" + tenant;

    // A kind no worker of the test server handles, so a queued job stays queued (unfinished) until the test reads it.
    private const string UnhandledKind = "race-unhandled";

    private static async Task<(string Tenant, bool Deleted, bool ModelCreated, bool DatasetCreated, bool FileCreated, bool JobQueued, bool KeyCreated)> RaceAsync(
        TenancyManager manager, IModelRegistry registry, Maas.Core.Datasets.IDatasetStore datasets, Maas.Core.FineTuning.IFineTuningFileStore files,
        Maas.Core.Jobs.Queue.IJobQueueStore jobs, string tenant, bool deleteFirst)
    {
        var delete = Outcome(() => manager.DeleteTenantAsync(tenant, "race", CancellationToken.None), "tenant_not_empty");
        var model = Outcome(
            () => registry.CreateModelAsync(new NewModel("m", "", [], null, ModelVisibility.Private, tenant, "race"), CancellationToken.None),
            "tenant_not_found");
        var dataset = Outcome(
            () => datasets.CreateDatasetAsync(
                new Maas.Core.Datasets.Dataset
                {
                    Name = DatasetName(tenant),
                    Owner = tenant,
                    Visibility = ModelVisibility.Private,
                    Description = "",
                    CreatedBy = "race",
                    CreatedAt = DateTimeOffset.UtcNow
                },
                CancellationToken.None),
            "tenant_not_found");
        var file = Outcome(
            () => files.AddAsync(
                new Maas.Core.FineTuning.FineTuningFile
                {
                    Id = FileId(tenant),
                    Tenant = tenant,
                    Filename = "f.jsonl",
                    Purpose = "fine-tune",
                    Sha256 = "",
                    CreatedBy = "race",
                    CreatedAt = DateTimeOffset.UtcNow
                },
                CancellationToken.None),
            "tenant_not_found");
        var job = Outcome(
            () => jobs.EnqueueAsync(
                new Maas.Core.Jobs.Queue.QueuedJob
                {
                    Id = JobId(tenant),
                    Kind = UnhandledKind,
                    Tenant = tenant,
                    CreatedBy = "race",
                    CreatedAt = DateTimeOffset.UtcNow,
                    UpdatedAt = DateTimeOffset.UtcNow
                },
                CancellationToken.None),
            "tenant_not_found");
        var key = Outcome(
            () => manager.CreateKeyAsync(new NewApiKey("k", tenant, [MaasScopes.Infer], [], null, UsageLimits.None, "race"), CancellationToken.None),
            "tenant_not_found");
        var started = deleteFirst ? new[] { delete(), model(), dataset(), file(), job(), key() } : [model(), dataset(), file(), job(), key(), delete()];
        var done = await Task.WhenAll(started);
        var (deleted, modelCreated, datasetCreated, fileCreated, jobQueued, keyCreated) = deleteFirst
            ? (done[0], done[1], done[2], done[3], done[4], done[5])
            : (done[5], done[0], done[1], done[2], done[3], done[4]);
        return (tenant, deleted, modelCreated, datasetCreated, fileCreated, jobQueued, keyCreated);
    }

    // Starts the operation on the thread pool when called; true when it succeeded, false when refused with the code
    // the race allows (any other failure fails the test).
    private static Func<Task<bool>> Outcome(Func<Task> operation, string refusedCode) => () => Task.Run(async () =>
    {
        try
        {
            await operation();
            return true;
        }
        catch (TenancyException e) when (e.Code == refusedCode)
        {
            return false;
        }
        catch (RegistryException e) when (e.Code == refusedCode)
        {
            return false;
        }
    });
}
