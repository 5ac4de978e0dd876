using System.Runtime.CompilerServices;
using Maas.Core.Registry;

namespace Maas.Storage.Artifacts;

/// <summary>
/// Artifacts on the local disk, by content: <c>{root}/sha256/ab/abcd.../</c> is the artifact's own folder, holding
/// the one file (named by its key) or the bundle's files. Commits arrive in <c>{root}/.tmp</c> and move into place
/// with one rename, which a crash cannot leave half done.
/// </summary>
/// <remarks>
/// Every artifact has a folder to itself because ONNX Runtime reads external data relative to the model's folder:
/// a model sharing a folder with other artifacts could name one of them as its weights. Stores written with the
/// earlier layout (one-file artifacts directly in the shard folder) are moved into it when the store opens.
/// </remarks>
public sealed class FilesystemArtifactStore : IArtifactStore
{
    private const string ObjectsFolder = "sha256";
    private const string TemporaryFolder = ".tmp";
    private const string MoveSuffix = ".layout";

    /// <summary>Uses (and creates) <paramref name="root"/>.</summary>
    public FilesystemArtifactStore(string root)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Path.Combine(Root, ObjectsFolder));
        Directory.CreateDirectory(Path.Combine(Root, TemporaryFolder));
        MovedToOwnFolders = MoveIntoOwnFolders();
    }

    /// <summary>How many one-file artifacts of the earlier layout were moved into folders of their own on opening.</summary>
    public int MovedToOwnFolders { get; }

    /// <summary>The store's folder.</summary>
    public string Root { get; }

    /// <inheritdoc />
    public string Kind => "filesystem";

    /// <summary>The folder of the artifact with <paramref name="key"/>: its one file, or its bundle's files, and nothing else.</summary>
    public string PathOf(string key)
    {
        if (!ArtifactKeys.IsValid(key))
        {
            throw new ArgumentException($"'{key}' is not an artifact key", nameof(key));
        }

        return Path.Combine(Root, ObjectsFolder, key[..2], key);
    }

    /// <inheritdoc />
    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) => Task.FromResult(Directory.Exists(PathOf(key)));

    /// <inheritdoc />
    public Task CommitAsync(string key, string stagedPath, bool bundle, CancellationToken cancellationToken)
    {
        var final = PathOf(key);
        if (Directory.Exists(final))
        {
            StagingArea.DeleteQuietly(stagedPath); // Same key, same bytes: keep the copy we have.
            return Task.CompletedTask;
        }

        // Into our own .tmp first (a copy when staging is on another disk), so the last step is a same-disk rename.
        var temporary = TemporaryEntries.NewPath(Path.Combine(Root, TemporaryFolder));
        if (bundle)
        {
            MoveDirectory(stagedPath, temporary);
            Directory.SetLastWriteTimeUtc(temporary, DateTime.UtcNow); // the artifact's folder says when it was committed
        }
        else
        {
            Directory.CreateDirectory(temporary);
            var file = Path.Combine(temporary, key);
            File.Move(stagedPath, file);
            if (!OperatingSystem.IsWindows())
            {
                // Read-only: an artifact is immutable, and a stray write would silently break its content address.
                File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }
        }

        Directory.CreateDirectory(Path.GetDirectoryName(final)!);
        try
        {
            Directory.Move(temporary, final);
        }
        catch (IOException) when (Directory.Exists(final))
        {
            StagingArea.DeleteQuietly(temporary); // Another commit of the same content won the rename.
        }

        return Task.CompletedTask;
    }

    private static void MoveDirectory(string source, string target)
    {
        try
        {
            Directory.Move(source, target);
        }
        catch (IOException)
        {
            // Another disk: copy, then remove the source.
            foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
            {
                var to = Path.Combine(target, Path.GetRelativePath(source, file));
                Directory.CreateDirectory(Path.GetDirectoryName(to)!);
                File.Copy(file, to);
            }

            Directory.Delete(source, recursive: true);
        }
    }

    /// <inheritdoc />
    public Task<ArtifactContent> OpenAsync(string key, string? file, CancellationToken cancellationToken)
    {
        var path = LocalPath(key, file);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return Task.FromResult(new ArtifactContent(stream, stream.Length, path));
    }

    /// <inheritdoc />
    public Task<string> GetLocalPathAsync(string key, string? file, CancellationToken cancellationToken) => Task.FromResult(LocalPath(key, file));

    private string LocalPath(string key, string? file)
    {
        var path = Path.Combine(PathOf(key), key);
        if (file is not null)
        {
            if (!RegistryNames.IsValidFilePath(file))
            {
                throw new FileNotFoundException($"'{file}' is not a file of artifact {key}");
            }

            path = Path.Combine(PathOf(key), file);
        }

        return File.Exists(path) ? path : throw new FileNotFoundException($"artifact {key}{(file is null ? "" : "/" + file)} is not in {Root}", path);
    }

    /// <inheritdoc />
    public Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        if (Directory.Exists(path))
        {
            // Out of its key's place first, so a crash mid-delete never leaves half an artifact under the key.
            var temporary = TemporaryEntries.NewPath(Path.Combine(Root, TemporaryFolder));
            Directory.Move(path, temporary);
            StagingArea.DeleteQuietly(temporary);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<string> ListKeysAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        foreach (var shard in Directory.EnumerateDirectories(Path.Combine(Root, ObjectsFolder)))
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(shard))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var name = Path.GetFileName(entry);
                if (ArtifactKeys.IsValid(name))
                {
                    yield return name;
                }
            }
        }
    }

    /// <inheritdoc />
    public Task<int> RemoveTemporaryAsync(DateTimeOffset startedBefore, CancellationToken cancellationToken) =>
        Task.FromResult(TemporaryEntries.RemoveOlder(Path.Combine(Root, TemporaryFolder), startedBefore));

    /// <inheritdoc />
    /// <remarks>The last write of the artifact's folder: made fresh for a one-file artifact, set at a bundle's commit.</remarks>
    public Task<DateTimeOffset?> GetCommittedAtAsync(string key, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        return Task.FromResult<DateTimeOffset?>(Directory.Exists(path) ? new DateTimeOffset(Directory.GetLastWriteTimeUtc(path), TimeSpan.Zero) : null);
    }

    // The earlier layout kept a one-file artifact at sha256/ab/{key}, next to others. Each move goes through
    // {key}.layout (a folder that takes the file, then is renamed to {key}), so a crash at any step is finished here.
    private int MoveIntoOwnFolders()
    {
        var moved = 0;
        foreach (var shard in Directory.EnumerateDirectories(Path.Combine(Root, ObjectsFolder)))
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(shard).ToArray())
            {
                var name = Path.GetFileName(entry);
                var key = name.EndsWith(MoveSuffix, StringComparison.Ordinal) ? name[..^MoveSuffix.Length] : name;
                if (!ArtifactKeys.IsValid(key) || (name == key && !File.Exists(entry)))
                {
                    continue; // Not ours, or already a folder of its own.
                }

                var final = Path.Combine(shard, key);
                var moving = final + MoveSuffix;
                Directory.CreateDirectory(moving);
                if (File.Exists(final))
                {
                    File.Move(final, Path.Combine(moving, key), overwrite: true);
                    moved++;
                }

                if (Directory.Exists(final) || !File.Exists(Path.Combine(moving, key)))
                {
                    StagingArea.DeleteQuietly(moving); // Finished before, or nothing to finish.
                }
                else
                {
                    Directory.Move(moving, final);
                }
            }
        }

        return moved;
    }
}
