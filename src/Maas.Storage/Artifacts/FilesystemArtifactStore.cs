using System.Runtime.CompilerServices;
using Maas.Core.Registry;

namespace Maas.Storage.Artifacts;

/// <summary>
/// Artifacts on the local disk, by content: <c>{root}/sha256/ab/abcd...</c> is a file (one-file artifact) or a
/// folder (a bundle). Commits arrive in <c>{root}/.tmp</c> and move into place with one rename, which a crash
/// cannot leave half done.
/// </summary>
public sealed class FilesystemArtifactStore : IArtifactStore
{
    private const string ObjectsFolder = "sha256";
    private const string TemporaryFolder = ".tmp";

    /// <summary>Uses (and creates) <paramref name="root"/>.</summary>
    public FilesystemArtifactStore(string root)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Path.Combine(Root, ObjectsFolder));
        Directory.CreateDirectory(Path.Combine(Root, TemporaryFolder));
    }

    /// <summary>The store's folder.</summary>
    public string Root { get; }

    /// <inheritdoc />
    public string Kind => "filesystem";

    /// <summary>Where the artifact with <paramref name="key"/> lives (file or folder).</summary>
    public string PathOf(string key)
    {
        if (!ArtifactKeys.IsValid(key))
        {
            throw new ArgumentException($"'{key}' is not an artifact key", nameof(key));
        }

        return Path.Combine(Root, ObjectsFolder, key[..2], key);
    }

    /// <inheritdoc />
    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        return Task.FromResult(File.Exists(path) || Directory.Exists(path));
    }

    /// <inheritdoc />
    public Task CommitAsync(string key, string stagedPath, bool bundle, CancellationToken cancellationToken)
    {
        var final = PathOf(key);
        if (File.Exists(final) || Directory.Exists(final))
        {
            StagingArea.DeleteQuietly(stagedPath); // Same key, same bytes: keep the copy we have.
            return Task.CompletedTask;
        }

        // Into our own .tmp first (a copy when staging is on another disk), so the last step is a same-disk rename.
        var temporary = Path.Combine(Root, TemporaryFolder, Guid.NewGuid().ToString("n"));
        if (bundle)
        {
            MoveDirectory(stagedPath, temporary);
        }
        else
        {
            File.Move(stagedPath, temporary);
            if (!OperatingSystem.IsWindows())
            {
                // Read-only: an artifact is immutable, and a stray write would silently break its content address.
                File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }
        }

        Directory.CreateDirectory(Path.GetDirectoryName(final)!);
        try
        {
            if (bundle)
            {
                Directory.Move(temporary, final);
            }
            else
            {
                File.Move(temporary, final, overwrite: false);
            }
        }
        catch (IOException) when (File.Exists(final) || Directory.Exists(final))
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
        var path = PathOf(key);
        if (file is not null)
        {
            if (!RegistryNames.IsValidFilePath(file))
            {
                throw new FileNotFoundException($"'{file}' is not a file of artifact {key}");
            }

            path = Path.Combine(path, file);
        }

        return File.Exists(path) ? path : throw new FileNotFoundException($"artifact {key}{(file is null ? "" : "/" + file)} is not in {Root}", path);
    }

    /// <inheritdoc />
    public Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        if (Directory.Exists(path))
        {
            // Out of its key's place first, so a crash mid-delete never leaves half a bundle under the key.
            var temporary = Path.Combine(Root, TemporaryFolder, Guid.NewGuid().ToString("n"));
            Directory.Move(path, temporary);
            StagingArea.DeleteQuietly(temporary);
        }
        else
        {
            File.Delete(path);
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
    public Task<int> RemoveTemporaryAsync(CancellationToken cancellationToken)
    {
        var removed = 0;
        foreach (var entry in Directory.EnumerateFileSystemEntries(Path.Combine(Root, TemporaryFolder)))
        {
            StagingArea.DeleteQuietly(entry);
            removed++;
        }

        return Task.FromResult(removed);
    }
}
