using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Storage.Jobs;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>A succeeded job's last checkpoint is removed from the artifact store unless something else now uses the same content.</summary>
public sealed class JobCheckpointTests
{
    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_version_registered_from_the_last_checkpoint_unchanged_keeps_its_file(Db db)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        var bytes = RegistryHarness.Onnx(11);
        var key = await RunAsync(h, bytes, register: true);
        Assert.True(await h.Artifacts.ExistsAsync(key, CancellationToken.None));
        var version = (await h.Registry.ListVersionsAsync("from-checkpoint", CancellationToken.None)).Single();
        Assert.Equal(key, version.ArtifactKey);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(await h.Registry.GetLocalArtifactPathAsync(version, CancellationToken.None)));
    }

    [Theory]
    [OnSqlite]
    public async Task A_checkpoint_nothing_else_uses_is_deleted_when_the_job_succeeds(Db db)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        var key = await RunAsync(h, RegistryHarness.Onnx(12), register: false);
        Assert.False(await h.Artifacts.ExistsAsync(key, CancellationToken.None));
    }

    // Runs one job whose handler saves `bytes` as its checkpoint and, with `register`, registers the same bytes as a version.
    private static async Task<string> RunAsync(RegistryHarness h, byte[] bytes, bool register)
    {
        var queue = new SqlJobQueueStore(h.Store.Dialect);
        var handler = new CheckpointThenRegister(h, bytes, register);
        var worker = new JobWorker(queue, h.Artifacts, [handler], Path.Combine(h.DataDir, "jobs"));
        var now = DateTimeOffset.UtcNow;
        var id = "job_" + Guid.NewGuid().ToString("n")[..12];
        await queue.EnqueueAsync(new QueuedJob { Id = id, Kind = handler.Kind, Tenant = "default", Status = JobStatus.Queued, CreatedAt = now, UpdatedAt = now }, CancellationToken.None);
        Assert.True(await worker.RunOnceAsync(CancellationToken.None));
        var job = await queue.GetAsync(id, CancellationToken.None);
        Assert.True(job!.Status == JobStatus.Succeeded, job.Error?.Message);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
    }

    private sealed class CheckpointThenRegister(RegistryHarness h, byte[] bytes, bool register) : IJobHandler
    {
        public string Kind => "checkpoint-test";

        public async Task<string> RunAsync(JobRun run)
        {
            var file = Path.Combine(run.WorkDir, "model.onnx");
            await File.WriteAllBytesAsync(file, bytes);
            await run.SaveCheckpointAsync("final", file, null);
            if (register)
            {
                await h.AddVersionAsync("from-checkpoint", bytes);
            }

            return "{}";
        }
    }
}
