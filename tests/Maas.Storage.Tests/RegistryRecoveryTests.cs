using Maas.Core.Instances;
using Maas.Core.Registry;
using Maas.Storage.Artifacts;
using Maas.Storage.Sql;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>What a crash leaves behind, and how start-up recovery makes registry and artifact store agree again.</summary>
public sealed class RegistryRecoveryTests
{
    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Recovery_removes_every_kind_of_leftover_and_keeps_what_is_ready(Db db)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        var kept = await h.AddVersionAsync("kept", RegistryHarness.Onnx(1));

        // A crash after the number was reserved and bytes staged, before validation.
        var crashed = await h.Registry.BeginVersionAsync("kept", new NewVersionOptions { CreatedBy = "tests" }, CancellationToken.None);
        await crashed.AddFileAsync("half.onnx", new MemoryStream(new byte[1000]), null, CancellationToken.None);

        // A crash after the artifact was committed, before the version row said ready.
        var orphanBytes = RegistryHarness.Onnx(2);
        var orphanKey = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(orphanBytes));
        var staged = Path.Combine(h.DataDir, "orphan.onnx");
        await File.WriteAllBytesAsync(staged, orphanBytes);
        await h.Artifacts.CommitAsync(orphanKey, staged, bundle: false, CancellationToken.None);

        // A crash in the middle of a commit's move, and a session file whose row never got written.
        await File.WriteAllBytesAsync(Path.Combine(h.DataDir, "artifacts", ".tmp", "moving"), [1, 2, 3]);
        await File.WriteAllBytesAsync(h.Staging.SessionFile("0123456789abcdef0123456789abcdef"), [1]);

        // A live resumable session must survive a restart; an expired one must not.
        var uploads = new ModelUploads(h.Registry);
        var live = await uploads.CreateAsync("kept", "big.gguf", 100, null, "tests", CancellationToken.None);
        await uploads.AppendAsync(live.Id, 0, new MemoryStream(new byte[40]), CancellationToken.None);
        var expired = live with { Id = "fedcba9876543210fedcba9876543210", ExpiresAt = DateTimeOffset.UtcNow.AddHours(-1) };
        await h.Store.CreateUploadSessionAsync(expired, kept.ModelId, CancellationToken.None);
        await File.WriteAllBytesAsync(h.Staging.SessionFile(expired.Id), [1]);

        var report = await h.Registry.RecoverAsync(CancellationToken.None);
        Assert.Equal(new RecoveryReport(UnfinishedVersions: 1, ExpiredSessions: 1, StagedLeftovers: 3, TemporaryArtifacts: 1, OrphanArtifacts: 1), report);

        Assert.Equal([kept.ArtifactKey], await h.Artifacts.ListKeysAsync(CancellationToken.None).ToListAsync());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(h.Staging.Root, "drafts")));
        Assert.Equal([h.Staging.SessionFile(live.Id)], Directory.EnumerateFiles(Path.Combine(h.Staging.Root, "sessions")));
        Assert.Equal([1], (await h.Registry.ListVersionsAsync("kept", CancellationToken.None)).Select(v => v.Version));
        Assert.Equal(40, (await uploads.GetAsync(live.Id, CancellationToken.None)).Offset);
        Assert.Equal(new RecoveryReport(0, 0, 0, 0, 0), await h.Registry.RecoverAsync(CancellationToken.None));

        // The crashed draft's number stays used: the next version is 3.
        Assert.Equal(3, (await h.AddVersionAsync("kept", RegistryHarness.Onnx(3))).Version);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Recovery_beside_a_live_instance_keeps_what_it_could_still_be_committing(Db db)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        await h.AddVersionAsync("kept", RegistryHarness.Onnx(1));
        await using var self = new InstanceHeartbeat(h.Store, InstanceHeartbeat.NewId(), "server", new InstanceOptions { HeartbeatMs = 60_000, LapseMs = 600_000 });
        await self.StartAsync(CancellationToken.None);
        var now = DateTimeOffset.UtcNow;
        var dayAgo = now.AddDays(-1);
        await h.Store.BeatAsync("other", "worker", "elsewhere:1", now, now, CancellationToken.None);
        var files = (FilesystemArtifactStore)h.Artifacts;

        // The other instance: a version it is committing (its row names the artifact, which is old: the same bytes
        // were committed long ago), an artifact it committed a moment ago whose row is not written yet, a commit under
        // way in the store's .tmp, and a draft it stages.
        var other = new SqlRegistryStore(h.Store.Dialect, instanceId: "other");
        var modelId = (await h.Store.GetModelAsync("kept", CancellationToken.None))!.Id;
        var uploading = await other.ReserveVersionAsync(modelId, null, "tests", now, CancellationToken.None);
        var committing = await CommitAsync(h, RegistryHarness.Onnx(2));
        Directory.SetLastWriteTimeUtc(files.PathOf(committing), dayAgo.UtcDateTime);
        Assert.True(await other.SetUploadingArtifactAsync(modelId, uploading, committing, CancellationToken.None));
        var young = await CommitAsync(h, RegistryHarness.Onnx(3));
        var temporary = Path.Combine(h.DataDir, "artifacts", ".tmp");
        var underWay = Path.Combine(temporary, $"{now.ToUnixTimeMilliseconds()}-{Guid.NewGuid():n}");
        Directory.CreateDirectory(underWay);
        var drafts = Path.Combine(h.Staging.Root, "drafts");
        Directory.CreateDirectory(Path.Combine(drafts, "other-0123"));

        // A crash's leftovers: an orphan committed a day ago, a half-done commit of an earlier build, a gone instance's draft.
        var old = await CommitAsync(h, RegistryHarness.Onnx(4));
        Directory.SetLastWriteTimeUtc(files.PathOf(old), dayAgo.UtcDateTime);
        var halfDone = Path.Combine(temporary, "moving");
        await File.WriteAllBytesAsync(halfDone, [1, 2, 3]);
        File.SetLastWriteTimeUtc(halfDone, dayAgo.UtcDateTime);
        Directory.CreateDirectory(Path.Combine(drafts, "gone-4567"));

        var report = await h.Registry.RecoverAsync(self, CancellationToken.None);
        Assert.Equal(new RecoveryReport(UnfinishedVersions: 0, ExpiredSessions: 0, StagedLeftovers: 1, TemporaryArtifacts: 1, OrphanArtifacts: 1), report);
        Assert.True(await h.Artifacts.ExistsAsync(committing, CancellationToken.None));
        Assert.True(await h.Artifacts.ExistsAsync(young, CancellationToken.None));
        Assert.False(await h.Artifacts.ExistsAsync(old, CancellationToken.None));
        Assert.Equal([underWay], Directory.EnumerateFileSystemEntries(temporary));
        Assert.Equal([Path.Combine(drafts, "other-0123")], Directory.EnumerateFileSystemEntries(drafts));

        // Once the other instance is gone (its row removed at its stop, or lapsed), what it left goes too; the young
        // .tmp entry waits for the lapse.
        await h.Store.RemoveInstanceAsync("other", CancellationToken.None);
        report = await h.Registry.RecoverAsync(self, CancellationToken.None);
        Assert.Equal(new RecoveryReport(UnfinishedVersions: 1, ExpiredSessions: 0, StagedLeftovers: 1, TemporaryArtifacts: 0, OrphanArtifacts: 2), report);
        Assert.Equal([1], (await h.Registry.ListVersionsAsync("kept", CancellationToken.None)).Select(v => v.Version));
        Assert.Empty(Directory.EnumerateFileSystemEntries(drafts));
    }

    private static async Task<string> CommitAsync(RegistryHarness h, byte[] bytes)
    {
        var key = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        var staged = Path.Combine(h.DataDir, $"{key}.onnx");
        await File.WriteAllBytesAsync(staged, bytes);
        await h.Artifacts.CommitAsync(key, staged, bundle: false, CancellationToken.None);
        return key;
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Identical_content_is_stored_once_and_deleted_with_its_last_version(Db db)
    {
        await using var h = await RegistryHarness.CreateAsync(db);
        var bytes = RegistryHarness.Onnx(5);
        var a = await h.AddVersionAsync("a", bytes);
        var b = await h.AddVersionAsync("b", bytes);
        Assert.Equal(a.ArtifactKey, b.ArtifactKey);
        Assert.Single(await h.Artifacts.ListKeysAsync(CancellationToken.None).ToListAsync());
        await h.Registry.DeleteModelAsync("a", force: false, CancellationToken.None);
        Assert.True(await h.Artifacts.ExistsAsync(b.ArtifactKey, CancellationToken.None));
        await h.Registry.DeleteVersionAsync("b", 1, force: false, CancellationToken.None);
        Assert.False(await h.Artifacts.ExistsAsync(b.ArtifactKey, CancellationToken.None));
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_deployed_version_needs_force_to_delete(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        using var folder = new TempFolder();
        var store = await database.StoreAsync();
        var registry = new ModelRegistry(
            store,
            new Artifacts.FilesystemArtifactStore(Path.Combine(folder.Path, "artifacts")),
            new StagingArea(Path.Combine(folder.Path, "staging")),
            new RegistryOptions { FsyncUploads = false },
            [new Deployed()]);
        await registry.CreateModelAsync(new NewModel("served", "", [], null, ModelVisibility.Private, "default", "tests"), CancellationToken.None);
        await using (var draft = await registry.BeginVersionAsync("served", new NewVersionOptions(), CancellationToken.None))
        {
            await draft.AddFileAsync("m.onnx", new MemoryStream(RegistryHarness.Onnx()), null, CancellationToken.None);
            await registry.CommitVersionAsync(draft, CancellationToken.None);
        }

        var changes = new List<RegistryChange>();
        registry.Changed += (_, change) => changes.Add(change);
        var error = await Assert.ThrowsAsync<RegistryException>(() => registry.DeleteVersionAsync("served", 1, force: false, CancellationToken.None));
        Assert.Equal("version_in_use", error.Code);
        Assert.Contains("loaded on 2 instances", error.Message);
        await registry.DeleteVersionAsync("served", 1, force: true, CancellationToken.None);
        Assert.Equal([new RegistryChange(RegistryChangeKind.VersionDeleted, "served", 1)], changes);
    }

    private sealed class Deployed : IVersionUseCheck
    {
        public ValueTask<string?> GetUseAsync(ModelVersion version, CancellationToken cancellationToken) => ValueTask.FromResult<string?>("loaded on 2 instances");
    }
}
