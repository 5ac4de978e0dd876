using System.Security.Cryptography;
using Maas.Core.Registry;
using Maas.Storage.Artifacts;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>The S3 artifact store against a real S3-compatible server on loopback (s3rver).</summary>
public sealed class S3ArtifactStoreTests(S3rver s3) : IClassFixture<S3rver>
{
    private static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private S3ArtifactStore Store(TempFolder folder) => new(s3.Options($"t{Guid.NewGuid():n}/"), Path.Combine(folder.Path, "cache"));

    [S3Fact]
    public async Task Files_commit_dedup_read_cache_locally_and_delete()
    {
        using var folder = new TempFolder();
        using var store = Store(folder);
        var bytes = RandomNumberGenerator.GetBytes(12 << 20); // Three parts of 5 MiB: a multipart upload.
        var key = Sha(bytes);
        Assert.False(await store.ExistsAsync(key, CancellationToken.None));
        await store.CommitAsync(key, folder.Write("staged.bin", bytes), bundle: false, CancellationToken.None);
        Assert.True(await store.ExistsAsync(key, CancellationToken.None));
        Assert.False(File.Exists(Path.Combine(folder.Path, "staged.bin")));

        var again = folder.Write("again.bin", bytes);
        await store.CommitAsync(key, again, bundle: false, CancellationToken.None);
        Assert.False(File.Exists(again));

        using (var content = await store.OpenAsync(key, null, CancellationToken.None))
        {
            Assert.Equal(bytes.Length, content.Length);
            Assert.Null(content.LocalPath);
            using var copy = new MemoryStream();
            await content.Stream.CopyToAsync(copy);
            Assert.Equal(key, Sha(copy.ToArray()));
        }

        var local = await store.GetLocalPathAsync(key, null, CancellationToken.None);
        Assert.Equal(key, Sha(await File.ReadAllBytesAsync(local)));
        Assert.Equal([local], Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(local)!)); // A folder of its own.
        Assert.Equal([key], await store.ListKeysAsync(CancellationToken.None).ToListAsync());

        await store.DeleteAsync(key, CancellationToken.None);
        Assert.False(await store.ExistsAsync(key, CancellationToken.None));
        Assert.False(File.Exists(local));
        await Assert.ThrowsAsync<FileNotFoundException>(() => store.OpenAsync(key, null, CancellationToken.None));
    }

    [S3Fact]
    public async Task Bundles_keep_their_layout_and_count_only_when_complete()
    {
        using var folder = new TempFolder();
        using var store = Store(folder);
        folder.Write("draft/model.onnx", [1, 2, 3]);
        folder.Write("draft/data/weights.bin", [4, 5]);
        var key = new string('c', 64);
        await store.CommitAsync(key, Path.Combine(folder.Path, "draft"), bundle: true, CancellationToken.None);
        Assert.True(await store.ExistsAsync(key, CancellationToken.None));
        var model = await store.GetLocalPathAsync(key, "model.onnx", CancellationToken.None);
        Assert.Equal([4, 5], await File.ReadAllBytesAsync(Path.Combine(Path.GetDirectoryName(model)!, "data", "weights.bin")));
        using (var side = await store.OpenAsync(key, "data/weights.bin", CancellationToken.None))
        {
            Assert.Equal(2, side.Length);
        }

        await store.DeleteAsync(key, CancellationToken.None);
        Assert.Empty(await store.ListKeysAsync(CancellationToken.None).ToListAsync());
        Assert.Equal(0, await store.RemoveTemporaryAsync(DateTimeOffset.MaxValue, CancellationToken.None));
    }

    [S3Fact]
    public async Task The_registry_runs_on_the_s3_store_and_recovery_removes_orphan_objects()
    {
        var prefix = $"r{Guid.NewGuid():n}/";
        await using var h = await RegistryHarness.CreateAsync(Db.Sqlite, dataDir => new S3ArtifactStore(s3.Options(prefix), Path.Combine(dataDir, "cache")));
        var bytes = RegistryHarness.Onnx(11);
        var version = await h.AddVersionAsync("on-s3", bytes);
        var path = await h.Registry.GetLocalArtifactPathAsync(version, CancellationToken.None);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(path));

        var orphan = RegistryHarness.Onnx(12);
        var staged = Path.Combine(h.DataDir, "orphan.onnx");
        await File.WriteAllBytesAsync(staged, orphan);
        await h.Artifacts.CommitAsync(Sha(orphan), staged, bundle: false, CancellationToken.None);
        var report = await h.Registry.RecoverAsync(CancellationToken.None);
        Assert.Equal(1, report.OrphanArtifacts);
        Assert.Equal([version.ArtifactKey], await h.Artifacts.ListKeysAsync(CancellationToken.None).ToListAsync());

        await h.Registry.DeleteVersionAsync("on-s3", 1, force: false, CancellationToken.None);
        Assert.Empty(await h.Artifacts.ListKeysAsync(CancellationToken.None).ToListAsync());
    }
}
