using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Maas.Core.Registry;

/// <summary>
/// Resumable uploads, whatever they are for (model files, dataset files): the rules every session follows (its id,
/// size and checksum checks, the per-tenant limit, expiry, completion) and its bytes, one staged file per session with
/// chunks appended only at the offset it has, hashed as they arrive when they come in order. Where the session's
/// record is stored and what its bytes become is its user's business.
/// </summary>
public sealed class ResumableFiles(StagingArea staging)
{
    private readonly KeyedLock _locks = new();

    // The running hash of a session whose chunks arrived in order in this process, so completing it needs no re-read.
    private readonly ConcurrentDictionary<string, SessionHash> _hashes = new(StringComparer.Ordinal);

    /// <summary>A new session's id: 128 random bits in lowercase hex.</summary>
    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>
    /// Checks what a caller asks of a new session (a safe file path, a size neither negative nor over
    /// <paramref name="maxBytes"/>, a well-formed SHA-256) and returns the SHA-256 lowercased (null stays null).
    /// </summary>
    public static string? CheckNew(string fileName, long? totalBytes, long maxBytes, string? sha256)
    {
        RegistryNames.ValidateFilePath(fileName);
        if (totalBytes is < 0)
        {
            throw RegistryException.Invalid("invalid_upload", $"size must not be negative, not {totalBytes}");
        }

        if (totalBytes > maxBytes)
        {
            throw HashingCopy.TooLarge(maxBytes);
        }

        return ModelRegistry.NormalizeSha256(sha256);
    }

    /// <summary>
    /// 429 too_many_upload_sessions when tenant <paramref name="owner"/> has <paramref name="open"/> sessions of
    /// <paramref name="kind"/> open and <paramref name="limit"/> (the value of <paramref name="setting"/>) are allowed.
    /// </summary>
    public static void CheckRoom(string owner, int open, int limit, string kind, string setting)
    {
        if (open >= limit)
        {
            throw new RegistryException(
                RegistryErrorKind.Busy,
                "too_many_upload_sessions",
                $"tenant '{owner}' has {open} open {kind}, the most allowed ({setting} = {limit}); complete or delete one first",
                new Dictionary<string, object?> { ["limit"] = limit, ["retry_after_seconds"] = 60 });
        }
    }

    /// <summary>
    /// The session <paramref name="load"/> reads for <paramref name="id"/> while it has not expired at
    /// <paramref name="now"/>; 404 upload_not_found for a malformed id (never looked up), a missing or an expired one.
    /// </summary>
    public static async Task<T> FindAsync<T>(string id, Func<Task<T?>> load, DateTimeOffset now)
        where T : ResumableSession
    {
        if (string.IsNullOrEmpty(id) || id.Length != 32 || !id.All(char.IsAsciiHexDigitLower))
        {
            throw RegistryException.NotFound("upload_not_found", $"upload '{RegistryNames.Shorten(id)}' does not exist");
        }

        var session = await load().ConfigureAwait(false);
        return session is not null && session.ExpiresAt > now
            ? session
            : throw RegistryException.NotFound("upload_not_found", $"upload '{id}' does not exist or has expired");
    }

    /// <summary>
    /// The bytes <paramref name="session"/> holds, once all of an announced size are there (409 upload_incomplete with
    /// the offset otherwise). The caller holds the session's lock.
    /// </summary>
    public long CompleteLength(ResumableSession session)
    {
        var length = Length(session.Id);
        if (session.TotalBytes is { } total && length != total)
        {
            throw RegistryException.Conflict(
                "upload_incomplete",
                $"upload '{session.Id}' has {length} of its {total} bytes",
                new Dictionary<string, object?> { ["offset"] = length, ["total_bytes"] = total });
        }

        return length;
    }

    /// <summary>The SHA-256 of a session's <paramref name="length"/> bytes (hashed on arrival, or read again now), forgotten after.</summary>
    public async Task<string> Sha256Async(string id, long length, CancellationToken cancellationToken) =>
        TakeHash(id, length) ?? await HashingCopy.HashFileAsync(PathOf(id), cancellationToken).ConfigureAwait(false);

    /// <summary>400 checksum_mismatch when the caller announced another SHA-256 than <paramref name="actual"/>.</summary>
    public static void CheckSha256(ResumableSession session, string actual)
    {
        if (session.ExpectedSha256 is { } expected && expected != actual)
        {
            throw ModelRegistry.ChecksumMismatch(session.FileName, expected, actual);
        }
    }

    /// <summary>The staging area the session files live in.</summary>
    public StagingArea Staging => staging;

    /// <summary>The file a session's bytes are appended to.</summary>
    public string PathOf(string id) => staging.SessionFile(id);

    /// <summary>
    /// Opens a new session: its row first, by <paramref name="createRow"/> (a session file without a row is a leftover a
    /// sweep may remove at any time), then its empty file. A row that is not written releases the session's
    /// <paramref name="reservation"/>.
    /// </summary>
    public async Task<T> OpenAsync<T>(T session, StorageReservation reservation, Func<Task> createRow, CancellationToken cancellationToken)
        where T : ResumableSession
    {
        try
        {
            await createRow().ConfigureAwait(false);
        }
        catch
        {
            await reservation.ReleaseAsync().ConfigureAwait(false);
            throw;
        }

        await File.WriteAllBytesAsync(PathOf(session.Id), [], cancellationToken).ConfigureAwait(false);
        return session;
    }

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
    /// <paramref name="holdStorage"/>, when the tenant has a storage quota, sets the session's reservation to what it
    /// declared or holds (the bytes a session holds count against the quota until it ends); the chunk grows it as its
    /// bytes arrive, and one that the quota has no room for is refused the same way (storage_quota_exceeded).
    /// </summary>
    public async Task<long> AppendAsync(
        string id,
        long offset,
        Stream chunk,
        long? totalBytes,
        long maxBytes,
        long roomOnDisk,
        Func<Exception>? lowOnDisk,
        Func<long, CancellationToken, Task<StorageReservation>>? holdStorage,
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

        var reservation = holdStorage is null ? null : await holdStorage(Math.Max(totalBytes ?? 0, current), cancellationToken).ConfigureAwait(false);
        try
        {
            return await AppendAsync(id, current, chunk, totalBytes, maxBytes, roomOnDisk, lowOnDisk, reservation, fsync, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (reservation is not null && totalBytes is null)
            {
                // An undeclared session reserved ahead of its bytes: back to what it holds, so others may have the rest.
                try
                {
                    await reservation.TryHoldAsync(Length(id), CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Kept a little ahead until its next chunk or its end.
                }
            }
        }
    }

    private async Task<long> AppendAsync(
        string id,
        long current,
        Stream chunk,
        long? totalBytes,
        long maxBytes,
        long roomOnDisk,
        Func<Exception>? lowOnDisk,
        StorageReservation? reservation,
        bool fsync,
        CancellationToken cancellationToken)
    {
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
                written = await HashingCopy.CopyAsync(
                    chunk,
                    file,
                    running?.Hash,
                    limit,
                    null,
                    cancellationToken,
                    maxBytes,
                    reservation is null ? null : (total, ct) => reservation.EnsureAsync(current + total, ct)).ConfigureAwait(false);
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.InsufficientStorage)
            {
                // Past the storage quota: refused like a chunk past the size, leaving nothing behind.
                file.SetLength(current);
                Forget(id);
                throw;
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
