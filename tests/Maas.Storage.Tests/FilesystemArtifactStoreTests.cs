using System.Security.Cryptography;
using Maas.Storage.Artifacts;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>The content-addressed filesystem store: atomic commits, dedup, bundles, listing, leftovers.</summary>
public sealed class FilesystemArtifactStoreTests
{
    private static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    [Fact]
    public async Task A_committed_file_lands_under_its_hash_read_only_and_a_second_copy_is_dropped()
    {
        using var folder = new TempFolder();
        var store = new FilesystemArtifactStore(Path.Combine(folder.Path, "artifacts"));
        byte[] bytes = [1, 2, 3, 4, 5];
        var key = Sha(bytes);
        var staged = folder.Write("staging/a.bin", bytes);
        Assert.False(await store.ExistsAsync(key, CancellationToken.None));
        await store.CommitAsync(key, staged, bundle: false, CancellationToken.None);
        Assert.False(File.Exists(staged));
        Assert.True(await store.ExistsAsync(key, CancellationToken.None));
        Assert.Equal(Path.Combine(store.Root, "sha256", key[..2], key), store.PathOf(key));
        var path = await store.GetLocalPathAsync(key, null, CancellationToken.None);
        Assert.Equal(Path.Combine(store.PathOf(key), key), path);
        Assert.Equal([path], Directory.EnumerateFileSystemEntries(store.PathOf(key))); // A folder of its own.
        Assert.Equal(bytes, await File.ReadAllBytesAsync(path));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(path));
        }

        var again = folder.Write("staging/b.bin", bytes);
        await store.CommitAsync(key, again, bundle: false, CancellationToken.None);
        Assert.False(File.Exists(again));
        using (var content = await store.OpenAsync(key, null, CancellationToken.None))
        {
            Assert.Equal(bytes.Length, content.Length);
            Assert.Equal(path, content.LocalPath);
        }

        Assert.Equal([key], await store.ListKeysAsync(CancellationToken.None).ToListAsync());
        await store.DeleteAsync(key, CancellationToken.None);
        Assert.False(await store.ExistsAsync(key, CancellationToken.None));
        await Assert.ThrowsAsync<FileNotFoundException>(() => store.OpenAsync(key, null, CancellationToken.None));
    }

    [Fact]
    public async Task A_bundle_is_a_folder_moved_in_whole()
    {
        using var folder = new TempFolder();
        var store = new FilesystemArtifactStore(Path.Combine(folder.Path, "artifacts"));
        folder.Write("draft/model.onnx", [1]);
        folder.Write("draft/weights/w.bin", [2, 2]);
        var key = new string('b', 64);
        await store.CommitAsync(key, Path.Combine(folder.Path, "draft"), bundle: true, CancellationToken.None);
        Assert.False(Directory.Exists(Path.Combine(folder.Path, "draft")));
        var model = await store.GetLocalPathAsync(key, "model.onnx", CancellationToken.None);
        Assert.Equal(Path.Combine(store.PathOf(key), "model.onnx"), model);
        Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(model)!, "weights", "w.bin")));
        await Assert.ThrowsAsync<FileNotFoundException>(() => store.GetLocalPathAsync(key, "../../escape", CancellationToken.None));
        await store.DeleteAsync(key, CancellationToken.None);
        Assert.False(Directory.Exists(store.PathOf(key)));
        Assert.Equal(0, await store.RemoveTemporaryAsync(DateTimeOffset.MaxValue, CancellationToken.None));
    }

    [Fact]
    public async Task Leftovers_of_interrupted_commits_are_removed_and_keys_are_checked()
    {
        using var folder = new TempFolder();
        var store = new FilesystemArtifactStore(Path.Combine(folder.Path, "artifacts"));
        folder.Write("artifacts/.tmp/half-moved", [9]);
        Directory.CreateDirectory(Path.Combine(folder.Path, "artifacts", ".tmp", "half-bundle"));
        folder.Write($"artifacts/sha256/ab/not-a-key", [1]);
        Assert.Equal(2, await store.RemoveTemporaryAsync(DateTimeOffset.MaxValue, CancellationToken.None));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(store.Root, ".tmp")));
        Assert.Empty(await store.ListKeysAsync(CancellationToken.None).ToListAsync());
        Assert.Throws<ArgumentException>(() => store.PathOf("../../etc/passwd"));
        Assert.Throws<ArgumentException>(() => store.PathOf(new string('A', 64)));
    }

    [Fact]
    public async Task One_file_artifacts_of_the_shared_folder_layout_move_into_folders_of_their_own()
    {
        using var folder = new TempFolder();
        byte[] first = [1, 2, 3], second = [4, 5, 6], third = [7, 8, 9];
        var (a, b, c) = (Sha(first), Sha(second), Sha(third));
        folder.Write($"artifacts/sha256/{a[..2]}/{a}", first); // The earlier layout: a file next to its neighbours.
        folder.Write($"artifacts/sha256/{b[..2]}/{b}.layout/{b}", second); // A move a crash interrupted.
        folder.Write($"artifacts/sha256/{c[..2]}/{c}/{c}", third); // Already in its own folder.

        var store = new FilesystemArtifactStore(Path.Combine(folder.Path, "artifacts"));

        Assert.Equal(1, store.MovedToOwnFolders);
        foreach (var (key, bytes) in new[] { (a, first), (b, second), (c, third) })
        {
            var path = await store.GetLocalPathAsync(key, null, CancellationToken.None);
            Assert.Equal(Path.Combine(store.PathOf(key), key), path);
            Assert.Equal(bytes, await File.ReadAllBytesAsync(path));
            Assert.Equal([path], Directory.EnumerateFileSystemEntries(store.PathOf(key)));
        }

        Assert.Equal(new[] { a, b, c }.Order(), (await store.ListKeysAsync(CancellationToken.None).ToListAsync()).Order());
        Assert.Empty(Directory.EnumerateDirectories(Path.Combine(store.Root, "sha256"), "*.layout", SearchOption.AllDirectories));
        Assert.Equal(0, new FilesystemArtifactStore(store.Root).MovedToOwnFolders);
    }
}
