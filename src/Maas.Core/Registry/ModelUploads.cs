namespace Maas.Core.Registry;

/// <summary>
/// Resumable uploads of a model version's files, tus-like: a session per file, chunks appended at offsets (their bytes
/// and running hashes in the registry's <see cref="ResumableFiles"/>), completed into a version through the registry's
/// draft and commit, or cancelled; sessions whose time ran out are removed by <see cref="ExpireAsync"/>. A session's
/// declared or written bytes count against its tenant's storage quota until it ends.
/// </summary>
public sealed class ModelUploads(ModelRegistry registry)
{
    private IRegistryStore Store => registry.Store;

    private ResumableFiles Files => registry.SessionFiles;

    private RegistryOptions Options => registry.Options;

    /// <summary>Starts a resumable upload of one file for a future version of <paramref name="model"/>.</summary>
    public async Task<UploadSession> CreateAsync(string model, string fileName, long? totalBytes, string? sha256, string createdBy, CancellationToken cancellationToken)
    {
        sha256 = ResumableFiles.CheckNew(fileName, totalBytes, Options.MaxUploadBytes, sha256);
        var owner = await registry.GetModelAsync(model, cancellationToken).ConfigureAwait(false);
        var open = await Store.CountUploadSessionsAsync(owner.Owner, cancellationToken).ConfigureAwait(false);
        ResumableFiles.CheckRoom(owner.Owner, open, Options.MaxUploadSessionsPerTenant, "upload sessions", $"{RegistryOptions.Section}:MaxUploadSessionsPerTenant");
        var now = registry.Now;
        var id = ResumableFiles.NewId();
        var expiresAt = now + TimeSpan.FromHours(Options.UploadSessionTtlHours);

        // The declared size counts against the tenant's quota from now until the session ends.
        var reservation = await registry.ReserveSessionStorageAsync(owner.Owner, Options.MaxUploadBytes, id, expiresAt, totalBytes ?? 0, cancellationToken).ConfigureAwait(false);

        var session = new UploadSession
        {
            Id = id,
            Model = owner.Key,
            FileName = fileName,
            TotalBytes = totalBytes,
            ExpectedSha256 = sha256,
            CreatedBy = createdBy,
            CreatedAt = now,
            ExpiresAt = expiresAt,
        };
        return await Files.OpenAsync(session, reservation, () => Store.CreateUploadSessionAsync(session, owner.Id, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A session with its current offset; throws upload_not_found.</summary>
    public async Task<UploadSession> GetAsync(string id, CancellationToken cancellationToken)
    {
        var session = await FindSessionAsync(id, cancellationToken).ConfigureAwait(false);
        return session with { Offset = Files.Length(id) };
    }

    /// <summary>Appends a chunk that must start at the session's current offset (else offset_mismatch).</summary>
    public async Task<UploadSession> AppendAsync(string id, long offset, Stream chunk, CancellationToken cancellationToken)
    {
        var session = await FindSessionAsync(id, cancellationToken).ConfigureAwait(false);
        using var held = Files.TryLock(id) ?? throw RegistryException.Conflict(
            "upload_busy", $"another chunk of upload '{id}' is being received; retry after it finishes");
        var owner = await registry.GetModelAsync(session.Model, cancellationToken).ConfigureAwait(false);
        try
        {
            await Files.AppendAsync(
                id,
                offset,
                chunk,
                session.TotalBytes,
                Options.MaxUploadBytes,
                registry.FreeBytesAboveFloor(),
                registry.LowOnDisk,
                (bytes, ct) => registry.HoldSessionStorageAsync(owner.Owner, id, session.ExpiresAt, bytes, ct),
                Options.FsyncUploads,
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // Its file went with the session: another server sharing the database expired it before this chunk began.
            throw await SessionGoneAsync(id).ConfigureAwait(false);
        }

        // The session's lock is this process's only: another server sharing the database and folder may have expired
        // the session (and deleted its file) while this chunk arrived. Then the chunk is refused as for any expired
        // session, and nothing of it is kept.
        if (await Store.GetUploadSessionAsync(id, CancellationToken.None).ConfigureAwait(false) is null)
        {
            throw await SessionGoneAsync(id).ConfigureAwait(false);
        }

        return session with { Offset = Files.Length(id) };
    }

    /// <summary>
    /// Turns finished sessions (the model file plus its external data files) into a ready version; 400 invalid_upload,
    /// with every session left as it was, when <paramref name="otherSessionIds"/> names <paramref name="id"/> or one upload twice.
    /// </summary>
    public async Task<ModelVersion> CompleteAsync(string id, IReadOnlyList<string> otherSessionIds, NewVersionOptions options, CancellationToken cancellationToken)
    {
        // A caller's mistake, refused before any session is used up: dropping the id without a word hid it.
        if (otherSessionIds.Contains(id, StringComparer.Ordinal))
        {
            throw RegistryException.Invalid(
                "invalid_upload",
                $"files lists upload '{RegistryNames.Shorten(id)}', the upload being completed; it is the version's main file already, so list only the other uploads (such " +
                $"as external-data files)");
        }

        if (otherSessionIds.GroupBy(o => o, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            throw RegistryException.Invalid("invalid_upload", $"files lists upload '{RegistryNames.Shorten(twice.Key)}' more than once");
        }

        var ids = new List<string> { id };
        ids.AddRange(otherSessionIds);
        var locks = new List<IDisposable>();
        try
        {
            var sessions = new List<UploadSession>();
            foreach (var sessionId in ids)
            {
                var session = await FindSessionAsync(sessionId, cancellationToken).ConfigureAwait(false);
                locks.Add(Files.TryLock(sessionId) ?? throw RegistryException.Conflict(
                    "upload_busy", $"a chunk of upload '{sessionId}' is still being received"));
                if (sessions.Count > 0 && session.Model != sessions[0].Model)
                {
                    throw RegistryException.Invalid("invalid_upload", $"upload '{sessionId}' is for model '{session.Model}', not '{sessions[0].Model}'");
                }

                sessions.Add(session with { Offset = Files.CompleteLength(session) });
            }

            // The draft takes over what the sessions reserved: their bytes are counted once, and their room is theirs.
            VersionDraft started;
            try
            {
                started = await registry.BeginVersionAsync(sessions[0].Model, options, sessions.Sum(s => s.Offset), ids, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                // Refused (a version number taken, ...): the sessions stay, so what they hold counts again (a take-over
                // the refusal undid already is set to the same bytes).
                try
                {
                    var owner = (await registry.GetModelAsync(sessions[0].Model, CancellationToken.None).ConfigureAwait(false)).Owner;
                    foreach (var session in sessions)
                    {
                        await registry.HoldSessionStorageAsync(owner, session.Id, session.ExpiresAt, session.Offset, CancellationToken.None).ConfigureAwait(false);
                    }
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Not held again: they count once more at their next chunk, and stop when they end.
                }

                throw;
            }

            await using var draft = started;
            try
            {
                foreach (var session in sessions)
                {
                    var sha = Files.TakeHash(session.Id, session.Offset);
                    var file = await draft.AddStagedFileAsync(session.FileName, Files.PathOf(session.Id), sha, cancellationToken).ConfigureAwait(false);
                    ResumableFiles.CheckSha256(session, file.Sha256);
                }

                return await registry.CommitVersionAsync(draft, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                // The bytes moved into the draft: whatever the outcome, these sessions are used up.
                foreach (var session in sessions)
                {
                    await DropSessionAsync(session.Id, CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            foreach (var held in locks)
            {
                held.Dispose();
            }
        }
    }

    /// <summary>Abandons a session and its bytes.</summary>
    public async Task CancelAsync(string id, CancellationToken cancellationToken)
    {
        await FindSessionAsync(id, cancellationToken).ConfigureAwait(false);
        using var held = Files.TryLock(id) ?? throw RegistryException.Conflict(
            "upload_busy", $"a chunk of upload '{id}' is being received; cancel after it finishes");
        await DropSessionAsync(id, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes sessions whose time ran out while the server was running; returns how many.</summary>
    public async Task<int> ExpireAsync(CancellationToken cancellationToken)
    {
        var removed = 0;
        foreach (var session in await Store.ListUploadSessionsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (session.ExpiresAt <= registry.Now)
            {
                using var held = Files.TryLock(session.Id);
                if (held is null)
                {
                    continue; // A chunk is arriving right now; the next round takes it.
                }

                await DropSessionAsync(session.Id, cancellationToken).ConfigureAwait(false);
                removed++;
            }
        }

        return removed;
    }

    // A session that ended elsewhere while this process used it: what this process kept of it goes too.
    private async Task<RegistryException> SessionGoneAsync(string id)
    {
        Files.Drop(id);
        await registry.ReleaseStorageAsync(id).ConfigureAwait(false);
        return RegistryException.NotFound("upload_not_found", $"upload '{id}' does not exist or has expired");
    }

    private Task<UploadSession> FindSessionAsync(string id, CancellationToken cancellationToken) =>
        ResumableFiles.FindAsync(id, () => Store.GetUploadSessionAsync(id, cancellationToken), registry.Now);

    private async Task DropSessionAsync(string id, CancellationToken cancellationToken)
    {
        await Store.DeleteUploadSessionAsync(id, cancellationToken).ConfigureAwait(false);
        Files.Drop(id);
        await registry.ReleaseStorageAsync(id).ConfigureAwait(false);
    }
}
