using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Maas.Core.Registry;

/// <summary>
/// The bytes of resumable uploads, whatever they are for (model files, dataset files): one staged file per session,
/// chunks appended only at the offset it has, hashed as they arrive when they come in order. The session's record
/// (owner, target, expiry) is its user's business.
/// </summary>
public sealed class ResumableFiles(StagingArea staging)
{
    private readonly KeyedLock _locks = new();

    // The running hash of a session whose chunks arrived in order in this process, so completing it needs no re-read.
    private readonly ConcurrentDictionary<string, SessionHash> _hashes = new(StringComparer.Ordinal);

    /// <summary>The staging area the session files live in.</summary>
    public StagingArea Staging => staging;

    /// <summary>The file a session's bytes are appended to.</summary>
    public string PathOf(string id) => staging.SessionFile(id);

    /// <summary>Creates the session's empty file.</summary>
    public Task CreateAsync(string id, CancellationToken cancellationToken) => File.WriteAllBytesAsync(PathOf(id), [], cancellationToken);

    /// <summary>The bytes received so far: the offset the next chunk must start at.</summary>
    public long Length(string id)
    {
        var info = new FileInfo(PathOf(id));
        return info.Exists ? info.Length : 0;
    }

    /// <summary>The session's lock if free at once (one chunk, completion or cancel at a time); null when held.</summary>
    public IDisposable? TryLock(string id) => _locks.TryAcquire(id);

    /// <summary>The session's lock, or 409 upload_busy naming <paramref name="doing"/>.</summary>
    public IDisposable Lock(string id, string doing) => TryLock(id) ?? throw RegistryException.Conflict(
        "upload_busy", $"a chunk of upload '{id}' is being received; {doing} after it finishes");

    /// <summary>
    /// Appends <paramref name="chunk"/> at <paramref name="offset"/> (409 offset_mismatch with the real offset unless it
    /// is the session's length) and returns the new length. The caller holds the session's lock. A chunk that would go
    /// past <paramref name="totalBytes"/>, <paramref name="maxBytes"/> or <paramref name="roomOnDisk"/> leaves nothing
    /// behind and is refused (upload_length_exceeded, upload_too_large, or <paramref name="lowOnDisk"/>'s error).
    /// </summary>
    public async Task<long> AppendAsync(
        string id,
        long offset,
        Stream chunk,
        long? totalBytes,
        long maxBytes,
        long roomOnDisk,
        Func<Exception>? lowOnDisk,
        bool fsync,
        CancellationToken cancellationToken)
    {
        var current = Length(id);
        if (offset != current)
        {
            throw RegistryException.Conflict(
                "offset_mismatch",
                $"the chunk starts at offset {offset} but upload '{id}' has {current} bytes; send from offset {current}",
                new Dictionary<string, object?> { ["offset"] = current });
        }

        var limit = Math.Min(totalBytes ?? long.MaxValue, maxBytes) - current;
        var diskBound = roomOnDisk < limit;
        limit = Math.Min(limit, roomOnDisk);
        _hashes.TryGetValue(id, out var running);
        if (running is not null && running.Length != current)
        {
            Forget(id);
            running = null;
        }

        if (running is null && current == 0)
        {
            running = new SessionHash();
            _hashes[id] = running;
        }

        try
        {
            await using var file = new FileStream(PathOf(id), FileMode.Open, FileAccess.Write, FileShare.Read, 1, FileOptions.None);
            file.Seek(current, SeekOrigin.Begin);
            long written;
            try
            {
                written = await HashingCopy.CopyAsync(chunk, file, running?.Hash, limit, null, cancellationToken, maxBytes).ConfigureAwait(false);
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.TooLarge)
            {
                // A refused chunk leaves nothing behind: the caller may retry it from the same offset, smaller.
                file.SetLength(current);
                Forget(id);
                if (diskBound && lowOnDisk is not null)
                {
                    throw lowOnDisk();
                }

                if (totalBytes is { } total && total < maxBytes)
                {
                    throw RegistryException.Invalid(
                        "upload_length_exceeded",
                        $"the chunk goes past the size announced for upload '{id}' ({total} bytes)",
                        new Dictionary<string, object?> { ["total_bytes"] = total, ["offset"] = current });
                }

                throw;
            }

            if (fsync)
            {
                file.Flush(flushToDisk: true);
            }

            if (running is not null)
            {
                running.Length = current + written;
            }
        }
        catch (Exception e) when (e is not RegistryException)
        {
            // A broken connection keeps what reached the disk (the next chunk resumes there) but the hash may be ahead of it.
            Forget(id);
            throw;
        }

        return Length(id);
    }

    /// <summary>The SHA-256 of a session's <paramref name="length"/> bytes if they were hashed on arrival, else null; forgets it.</summary>
    public string? TakeHash(string id, long length)
    {
        if (!_hashes.TryRemove(id, out var running))
        {
            return null;
        }

        using (running)
        {
            return running.Length == length ? Convert.ToHexStringLower(running.Hash.GetHashAndReset()) : null;
        }
    }

    /// <summary>Deletes a session's file and running hash.</summary>
    public void Drop(string id)
    {
        Forget(id);
        StagingArea.DeleteQuietly(PathOf(id));
    }

    private void Forget(string id)
    {
        if (_hashes.TryRemove(id, out var running))
        {
            running.Dispose();
        }
    }

    private sealed class SessionHash : IDisposable
    {
        public IncrementalHash Hash { get; } = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public long Length { get; set; }

        public void Dispose() => Hash.Dispose();
    }
}
