using Maas.Core.Registry;
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
        var live = await h.Registry.CreateUploadSessionAsync("kept", "big.gguf", 100, null, "tests", CancellationToken.None);
        await h.Registry.AppendUploadAsync(live.Id, 0, new MemoryStream(new byte[40]), CancellationToken.None);
        var expired = live with { Id = "fedcba9876543210fedcba9876543210", ExpiresAt = DateTimeOffset.UtcNow.AddHours(-1) };
        await h.Store.CreateUploadSessionAsync(expired, kept.ModelId, CancellationToken.None);
        await File.WriteAllBytesAsync(h.Staging.SessionFile(expired.Id), [1]);

        var report = await h.Registry.RecoverAsync(CancellationToken.None);
        Assert.Equal(new RecoveryReport(UnfinishedVersions: 1, ExpiredSessions: 1, StagedLeftovers: 3, TemporaryArtifacts: 1, OrphanArtifacts: 1), report);

        Assert.Equal([kept.ArtifactKey], await h.Artifacts.ListKeysAsync(CancellationToken.None).ToListAsync());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(h.Staging.Root, "drafts")));
        Assert.Equal([h.Staging.SessionFile(live.Id)], Directory.EnumerateFiles(Path.Combine(h.Staging.Root, "sessions")));
        Assert.Equal([1], (await h.Registry.ListVersionsAsync("kept", CancellationToken.None)).Select(v => v.Version));
        Assert.Equal(40, (await h.Registry.GetUploadSessionAsync(live.Id, CancellationToken.None)).Offset);
        Assert.Equal(new RecoveryReport(0, 0, 0, 0, 0), await h.Registry.RecoverAsync(CancellationToken.None));

        // The crashed draft's number stays used: the next version is 3.
        Assert.Equal(3, (await h.AddVersionAsync("kept", RegistryHarness.Onnx(3))).Version);
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
