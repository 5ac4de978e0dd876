using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Storage.Jobs;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>An ended job's checkpoint files are removed from the artifact store unless something else now uses the same content.</summary>
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

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Every_checkpoint_file_of_a_failed_job_is_deleted(Db db)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        byte[][] files = [RegistryHarness.Onnx(21), RegistryHarness.Onnx(22), RegistryHarness.Onnx(23)];
        var job = await RunEpochsAsync(h, files, registered: null, end: Ending.Fail);
        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.Equal("planted", job.Error?.Code);
        foreach (var bytes in files)
        {
            Assert.False(await h.Artifacts.ExistsAsync(Key(bytes), CancellationToken.None));
        }
    }

    [Theory]
    [OnSqlite]
    public async Task Every_checkpoint_file_of_a_cancelled_job_is_deleted(Db db)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        byte[][] files = [RegistryHarness.Onnx(31), RegistryHarness.Onnx(32)];
        var job = await RunEpochsAsync(h, files, registered: null, end: Ending.CancelItself);
        Assert.Equal(JobStatus.Cancelled, job.Status);
        foreach (var bytes in files)
        {
            Assert.False(await h.Artifacts.ExistsAsync(Key(bytes), CancellationToken.None));
        }
    }

    [Theory]
    [OnSqlite]
    public async Task A_succeeded_job_keeps_only_the_checkpoint_registered_as_a_version(Db db)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        byte[][] files = [RegistryHarness.Onnx(41), RegistryHarness.Onnx(42), RegistryHarness.Onnx(43)];
        var job = await RunEpochsAsync(h, files, registered: 1, end: Ending.Succeed);
        Assert.Equal(JobStatus.Succeeded, job.Status);
        Assert.False(await h.Artifacts.ExistsAsync(Key(files[0]), CancellationToken.None));
        Assert.True(await h.Artifacts.ExistsAsync(Key(files[1]), CancellationToken.None));
        Assert.False(await h.Artifacts.ExistsAsync(Key(files[2]), CancellationToken.None));
        var version = (await h.Registry.ListVersionsAsync("from-checkpoint", CancellationToken.None)).Single();
        Assert.Equal(files[1], await File.ReadAllBytesAsync(await h.Registry.GetLocalArtifactPathAsync(version, CancellationToken.None)));
    }

    private enum Ending
    {
        Succeed,
        Fail,
        CancelItself,
    }

    private static string Key(byte[] bytes) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));

    // Runs one job that saves each of `files` as an epoch checkpoint (checking each is stored while the job runs),
    // registers the one at index `registered` as a version, and then ends as `end` says.
    private static async Task<QueuedJob> RunEpochsAsync(RegistryHarness h, byte[][] files, int? registered, Ending end)
    {
        var queue = new SqlJobQueueStore(h.Store.Dialect);
        var handler = new EpochCheckpoints(h, queue, files, registered, end);
        // A short lease makes the heartbeat, which notices a cancel request, beat every few hundred milliseconds.
        var worker = new JobWorker(queue, h.Artifacts, [handler], Path.Combine(h.DataDir, "jobs"), new JobWorkerOptions { Lease = TimeSpan.FromSeconds(2) });
        var now = DateTimeOffset.UtcNow;
        var id = "job_" + Guid.NewGuid().ToString("n")[..12];
        await queue.EnqueueAsync(new QueuedJob { Id = id, Kind = handler.Kind, Tenant = "default", Status = JobStatus.Queued, CreatedAt = now, UpdatedAt = now },
            CancellationToken.None);
        Assert.True(await worker.RunOnceAsync(CancellationToken.None));
        Assert.Equal(files.Length, handler.StoredWhileRunning);
        return (await queue.GetAsync(id, CancellationToken.None))!;
    }

    private sealed class EpochCheckpoints(RegistryHarness h, SqlJobQueueStore queue, byte[][] files, int? registered, Ending end) : IJobHandler
    {
        public int StoredWhileRunning { get; private set; }

        public string Kind => "epoch-checkpoints-test";

        public async Task<string> RunAsync(JobRun run)
        {
            for (var i = 0; i < files.Length; i++)
            {
                var file = Path.Combine(run.WorkDir, $"epoch-{i}.onnx");
                await File.WriteAllBytesAsync(file, files[i]);
                await run.SaveCheckpointAsync($"epoch-{i + 1}", file, null);
                StoredWhileRunning += await h.Artifacts.ExistsAsync(Key(files[i]), CancellationToken.None) ? 1 : 0;
                if (i == registered)
                {
                    await h.AddVersionAsync("from-checkpoint", files[i]);
                }
            }

            switch (end)
            {
                case Ending.Fail:
                    throw new JobFailedException("planted", "the test fails the job after its checkpoints");
                case Ending.CancelItself:
                    await queue.RequestCancelAsync(run.Job.Id, DateTimeOffset.UtcNow, CancellationToken.None);
                    // The worker's heartbeat sees the request and cancels this token; the ceiling only stops a broken worker.
                    var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    using (run.CancellationToken.Register(() => cancelled.TrySetResult()))
                    {
                        await cancelled.Task.WaitAsync(TimeSpan.FromMinutes(2));
                    }

                    throw new OperationCanceledException(run.CancellationToken);
                default:
                    return "{}";
            }
        }
    }

    // Runs one job whose handler saves `bytes` as its checkpoint and, with `register`, registers the same bytes as a version.
    private static async Task<string> RunAsync(RegistryHarness h, byte[] bytes, bool register)
    {
        var queue = new SqlJobQueueStore(h.Store.Dialect);
        var handler = new CheckpointThenRegister(h, bytes, register);
        var worker = new JobWorker(queue, h.Artifacts, [handler], Path.Combine(h.DataDir, "jobs"));
        var now = DateTimeOffset.UtcNow;
        var id = "job_" + Guid.NewGuid().ToString("n")[..12];
        await queue.EnqueueAsync(new QueuedJob { Id = id, Kind = handler.Kind, Tenant = "default", Status = JobStatus.Queued, CreatedAt = now, UpdatedAt = now },
            CancellationToken.None);
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
