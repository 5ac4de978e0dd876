using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Maas.Core.Instances;

namespace Maas.Core.Registry;

/// <summary>The registry's rules over a store and an artifact store: staging, validation, atomic commit, references.</summary>
public sealed class ModelRegistry : IModelRegistry
{
    private readonly IRegistryStore _store;
    private readonly IArtifactStore _artifacts;
    private readonly StagingArea _staging;
    private readonly RegistryOptions _options;
    private readonly IReadOnlyList<IVersionUseCheck> _useChecks;
    private readonly TimeProvider _time;

    // Commit and delete of the same artifact key must not interleave: a dedup commit could otherwise find the file,
    // then lose it to a delete that saw no reference yet.
    private readonly KeyedLock _artifactLocks = new();

    // The upload sessions' bytes (locks, offsets and running hashes): ModelUploads writes them, a model's delete drops them.
    private readonly ResumableFiles _sessionFiles;

    // Artifacts whose file CompleteClassLabelsAsync read without finding labels: not read again by this process.
    private readonly ConcurrentDictionary<string, byte> _withoutClassLabels = new(StringComparer.Ordinal);
    private const int MaxWithoutClassLabels = 4096;

    /// <summary>Creates the registry.</summary>
    public ModelRegistry(
        IRegistryStore store,
        IArtifactStore artifacts,
        StagingArea staging,
        RegistryOptions options,
        IEnumerable<IVersionUseCheck>? useChecks = null,
        TimeProvider? time = null,
        ServingLimits? servingLimits = null)
    {
        ServingLimits = servingLimits ?? new ServingLimits();
        _store = store;
        _artifacts = artifacts;
        _staging = staging;
        _sessionFiles = new ResumableFiles(staging);
        _options = options;
        _useChecks = useChecks?.ToArray() ?? [];
        _time = time ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public event EventHandler<RegistryChange>? Changed;

    /// <summary>The server-wide maxima of serving configurations.</summary>
    public ServingLimits ServingLimits { get; }

    /// <summary>The artifact store in use.</summary>
    public IArtifactStore Artifacts => _artifacts;

    /// <summary>The staging area in use.</summary>
    public StagingArea Staging => _staging;

    // What resumable uploads (ModelUploads) share with the registry.
    internal IRegistryStore Store => _store;

    internal RegistryOptions Options => _options;

    internal ResumableFiles SessionFiles => _sessionFiles;

    internal DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>
    /// Start-up clean-up after a crash, for a process alone on its database and artifact store (tests, tools): every
    /// unfinished version, expired session, staged leftover, half-committed and unreferenced artifact.
    /// </summary>
    public Task<RecoveryReport> RecoverAsync(CancellationToken cancellationToken) => RecoverAsync(null, cancellationToken);

    /// <summary>
    /// Start-up clean-up after a crash, safe beside other live processes on the same database and artifact store:
    /// removes the unfinished versions and staged drafts of instances whose heartbeat lapsed (or of none), expired
    /// sessions, session files without a session, and half-committed and unreferenced artifacts that no live instance
    /// could still be committing (older than the lapse, or with no other instance live). <paramref name="self"/> is this
    /// process's heartbeat, registered before; null treats every other process as gone (<see cref="RecoverAsync(CancellationToken)"/>).
    /// </summary>
    public async Task<RecoveryReport> RecoverAsync(InstanceHeartbeat? self, CancellationToken cancellationToken)
    {
        var lapsedBefore = self?.LapsedBefore ?? DateTimeOffset.MaxValue;
        var unfinished = await _store.DeleteUploadingVersionsAsync(lapsedBefore, cancellationToken).ConfigureAwait(false);
        var orphans = await DeleteUnusedAsync(unfinished, cancellationToken).ConfigureAwait(false);

        var expired = 0;
        foreach (var session in await _store.ListUploadSessionsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (session.ExpiresAt <= Now)
            {
                await _store.DeleteUploadSessionAsync(session.Id, cancellationToken).ConfigureAwait(false);
                await ReleaseStorageAsync(session.Id).ConfigureAwait(false);
                expired++;
            }
        }

        // Drafts belong to the instance that stages them (their names start with its id); session files are anyone's
        // while their session exists. Both are listed first and their owners read after: an instance that starts
        // meanwhile is registered, and a session another server opens meanwhile has its record, by the time its
        // draft or file exists.
        var staged = await _staging.SweepDraftsAsync(
            ct => self is null ? Task.FromResult<IReadOnlySet<string>>(new HashSet<string>()) : self.ListLiveAsync(ct),
            cancellationToken).ConfigureAwait(false);
        staged += await _staging.SweepSessionFilesAsync(
            async ct => (await _store.ListUploadSessionsAsync(ct).ConfigureAwait(false)).Select(s => s.Id).ToHashSet(StringComparer.Ordinal),
            cancellationToken).ConfigureAwait(false);

        // A commit another live instance has under way: its leftovers are younger than the lapse.
        var temporary = await _artifacts.RemoveTemporaryAsync(lapsedBefore, cancellationToken).ConfigureAwait(false);

        // The keys in the store first, the references after: a model version records its key in its uploading row
        // before it commits, so an artifact listed here has its reference by the time the references are read.
        var stored = new List<string>();
        await foreach (var key in _artifacts.ListKeysAsync(cancellationToken).ConfigureAwait(false))
        {
            stored.Add(key);
        }

        var referenced = await _store.ListArtifactKeysAsync(cancellationToken).ConfigureAwait(false);

        // Other artifacts (datasets, files, checkpoints) get their row just after their commit: with another instance
        // live, only those older than the lapse go.
        var othersLive = self is not null && (await self.ListLiveAsync(cancellationToken).ConfigureAwait(false)).Any(id => id != self.Id);
        foreach (var key in stored.Where(k => !referenced.Contains(k)))
        {
            if (othersLive && !(await _artifacts.GetCommittedAtAsync(key, cancellationToken).ConfigureAwait(false) is { } committed && committed < lapsedBefore))
            {
                continue;
            }

            using (await _artifactLocks.AcquireAsync(key, cancellationToken).ConfigureAwait(false))
            {
                if (!await _store.IsArtifactReferencedAsync(key, cancellationToken).ConfigureAwait(false))
                {
                    await _artifacts.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
                    orphans++;
                }
            }
        }

        return new RecoveryReport(unfinished.Count, expired, staged, temporary, orphans);
    }

    /// <summary>
    /// The periodic part of recovery, for instances whose heartbeat lapsed since the start (a server or worker that
    /// crashed while this one runs, or before this one's quick restart): removes their uploading versions with the
    /// artifacts those named and nothing else uses, and their staged drafts. Lists nothing of the artifact store.
    /// </summary>
    public async Task<RecoveryReport> RecoverLapsedAsync(InstanceHeartbeat self, CancellationToken cancellationToken)
    {
        var unfinished = await _store.DeleteUploadingVersionsAsync(self.LapsedBefore, cancellationToken).ConfigureAwait(false);
        var orphans = await DeleteUnusedAsync(unfinished, cancellationToken).ConfigureAwait(false);
        var staged = await _staging.SweepDraftsAsync(self.ListLiveAsync, cancellationToken).ConfigureAwait(false);
        return new RecoveryReport(unfinished.Count, 0, staged, 0, orphans);
    }

    // The artifacts removed uploading versions named (committed, not yet ready), unless another version uses them.
    private async Task<int> DeleteUnusedAsync(IReadOnlyList<string?> keys, CancellationToken cancellationToken)
    {
        var deleted = 0;
        foreach (var key in keys.OfType<string>().Distinct(StringComparer.Ordinal))
        {
            if (await DeleteArtifactIfUnusedAsync(key, cancellationToken).ConfigureAwait(false))
            {
                deleted++;
            }
        }

        return deleted;
    }

    // ---- models ----

    /// <inheritdoc />
    public async Task<Model> CreateModelAsync(NewModel model, CancellationToken cancellationToken)
    {
        RegistryNames.ValidateName(model.Name);
        RegistryNames.ValidateName(model.Owner, "tenant");
        ValidateTags(model.Tags);
        ValidateTask(model.Task);
        ValidateText("description", model.Description, 4096);
        var created = await _store.CreateModelAsync(model with { Tags = model.Tags.Distinct(StringComparer.Ordinal).ToArray() }, Now, cancellationToken).ConfigureAwait(false);
        Raise(new RegistryChange(RegistryChangeKind.ModelChanged, created.Key));
        return created;
    }

    /// <inheritdoc />
    public async Task<Model> GetModelAsync(string name, CancellationToken cancellationToken)
    {
        var key = ModelKeys.Validate(name);
        return await _store.GetModelAsync(key, cancellationToken).ConfigureAwait(false) ?? throw RegistryException.ModelNotFound(key);
    }

    /// <inheritdoc />
    public Task<ModelPage> ListModelsAsync(ModelQuery query, CancellationToken cancellationToken)
    {
        if (query.Limit is < 1 or > 1000)
        {
            throw RegistryException.Invalid("invalid_query", $"limit must be between 1 and 1000, not {query.Limit}");
        }

        if (query.Offset < 0)
        {
            throw RegistryException.Invalid("invalid_query", $"offset must not be negative, not {query.Offset}");
        }

        ValidateTags(query.Tags);
        return _store.ListModelsAsync(query, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<Model> UpdateModelAsync(string name, ModelUpdate update, CancellationToken cancellationToken)
    {
        name = ModelKeys.Validate(name);
        if (update.Tags is not null)
        {
            ValidateTags(update.Tags);
            update = update with { Tags = update.Tags.Distinct(StringComparer.Ordinal).ToArray() };
        }

        if (update.ClearTask && update.Task is not null)
        {
            throw new ArgumentException("a model update either sets the task or clears it", nameof(update));
        }

        ValidateTask(update.Task);
        ValidateText("description", update.Description, 4096);
        var model = await _store.UpdateModelAsync(name, update, Now, cancellationToken).ConfigureAwait(false) ?? throw RegistryException.ModelNotFound(name);
        Raise(new RegistryChange(RegistryChangeKind.ModelChanged, name));
        return model;
    }

    /// <inheritdoc />
    public async Task<Model> SetServingConfigAsync(string name, ServingConfig config, CancellationToken cancellationToken)
    {
        name = ModelKeys.Validate(name);
        var errors = config.Validate();
        if (errors.Count == 0)
        {
            errors = ServingLimits.Check(config);
        }

        if (errors.Count > 0)
        {
            throw RegistryException.Invalid("invalid_config", string.Join("; ", errors), new Dictionary<string, object?> { ["errors"] = errors });
        }

        var model = await _store.SetServingConfigAsync(name, config, Now, cancellationToken).ConfigureAwait(false) ?? throw RegistryException.ModelNotFound(name);
        Raise(new RegistryChange(RegistryChangeKind.ModelChanged, name));
        return model;
    }

    /// <inheritdoc />
    public async Task DeleteModelAsync(string name, bool force, CancellationToken cancellationToken)
    {
        var model = await GetModelAsync(name, cancellationToken).ConfigureAwait(false);
        name = model.Key;
        if (!force)
        {
            var aliases = await _store.ListAliasesAsync(model.Id, cancellationToken).ConfigureAwait(false);
            if (aliases.Count > 0)
            {
                throw RegistryException.Conflict(
                    "model_in_use",
                    $"model '{name}' has aliases ({string.Join(", ", aliases.Select(a => a.Name))}); delete them first or pass force=true",
                    new Dictionary<string, object?> { ["aliases"] = aliases.Select(a => a.Name).ToArray() });
            }

            foreach (var version in await _store.ListVersionsAsync(name, cancellationToken).ConfigureAwait(false))
            {
                if (await GetUseAsync(version, cancellationToken).ConfigureAwait(false) is { } use)
                {
                    throw RegistryException.Conflict("model_in_use", $"version {version.Version} of model '{name}' is in use ({use}); pass force=true to delete anyway");
                }
            }
        }

        var sessions = (await _store.ListUploadSessionsAsync(cancellationToken).ConfigureAwait(false)).Where(s => s.Model == name).ToArray();
        var keys = await _store.DeleteModelAsync(name, cancellationToken).ConfigureAwait(false) ?? throw RegistryException.ModelNotFound(name);
        foreach (var session in sessions)
        {
            _sessionFiles.Drop(session.Id);
            await ReleaseStorageAsync(session.Id).ConfigureAwait(false);
        }

        foreach (var key in keys.Distinct(StringComparer.Ordinal))
        {
            await DeleteArtifactIfUnusedAsync(key, cancellationToken).ConfigureAwait(false);
        }

        foreach (var check in _useChecks)
        {
            // Not the caller's token: the model is gone, so what named it must go too even if the caller hung up.
            await check.ModelDeletedAsync(name, CancellationToken.None).ConfigureAwait(false);
        }

        Raise(new RegistryChange(RegistryChangeKind.ModelDeleted, name));
    }

    // ---- versions ----

    /// <inheritdoc />
    public Task<VersionDraft> BeginVersionAsync(string model, NewVersionOptions options, CancellationToken cancellationToken) =>
        BeginVersionAsync(model, options, 0, [], cancellationToken);

    // A draft whose reservation starts at bytes, taking over the reservations of the sessions replaces names.
    internal async Task<VersionDraft> BeginVersionAsync(string model, NewVersionOptions options, long bytes, IReadOnlyList<string> replaces, CancellationToken cancellationToken)
    {
        var owner = await GetModelAsync(model, cancellationToken).ConfigureAwait(false);
        await ValidateOptionsAsync(options, cancellationToken).ConfigureAwait(false);
        var reservation = await ReserveStorageAsync(owner.Owner, _options.MaxUploadBytes, bytes, cancellationToken, replaces: replaces).ConfigureAwait(false);
        try
        {
            var number = await _store.ReserveVersionAsync(owner.Id, options.Version, options.CreatedBy, Now, cancellationToken).ConfigureAwait(false);
            string folder;
            try
            {
                folder = _staging.CreateDraftFolder();
            }
            catch
            {
                await _store.AbandonVersionAsync(owner.Id, number, CancellationToken.None).ConfigureAwait(false);
                throw;
            }

            return new VersionDraft(owner, number, folder, options, reservation, _options.FsyncUploads, AbandonAsync, ValidateOptionsAsync);
        }
        catch
        {
            await reservation.ReleaseAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// A tenant's own storage quota when an admin set one (0: none for that tenant), else null for the server-wide
    /// <see cref="RegistryOptions.TenantStorageQuotaBytes"/>.
    /// </summary>
    public Func<string, CancellationToken, ValueTask<long?>>? TenantStorageQuotas { get; init; }

    /// <summary>
    /// Reserves <paramref name="bytes"/> of <paramref name="tenant"/>'s storage quota (its models, datasets and files
    /// together) for a new model version, dataset version or uploaded file, and says how many bytes it may have now:
    /// <paramref name="maxBytes"/> (the upload limit of its kind), or less when the quota (less what the tenant stores
    /// and its other uploads in progress reserved) or the disk's free space above its floor leaves less, with the error
    /// that names that limit (<see cref="StorageReservation.OverLimit"/>, null when <paramref name="maxBytes"/> is what
    /// limits). Throws 507 when nothing is left. The upload grows the reservation as its bytes arrive
    /// (<see cref="StorageReservation.EnsureAsync"/>) and disposes of it when it ends. With
    /// <paramref name="sessionId"/>, the reservation is that resumable session's (it lives until
    /// <paramref name="sessionExpiresAt"/> unless the session is dropped first: <see cref="ReleaseStorageAsync"/>);
    /// <paramref name="replaces"/> names session reservations this one takes over.
    /// </summary>
    public async Task<StorageReservation> ReserveStorageAsync(
        string tenant,
        long maxBytes,
        long bytes,
        CancellationToken cancellationToken,
        string? sessionId = null,
        DateTimeOffset? sessionExpiresAt = null,
        IReadOnlyList<string>? replaces = null)
    {
        var onDisk = FreeBytesAboveFloor(); // first: a disk below its floor refuses before anything is reserved
        var reservation = await NewReservationAsync(tenant, sessionId, sessionExpiresAt, cancellationToken).ConfigureAwait(false);
        var limit = maxBytes;
        Func<RegistryException>? overLimit = null;
        if (reservation.Quota > 0)
        {
            // At least one byte: a tenant with nothing left is refused before its upload is read.
            if (!await reservation.TryHoldAsync(Math.Max(bytes, 1), cancellationToken, replaces).ConfigureAwait(false))
            {
                throw reservation.QuotaExceeded();
            }

            var room = reservation.Quota - reservation.Use.Stored - reservation.Use.Reserved;
            if (room < limit)
            {
                limit = room;
                overLimit = reservation.QuotaExceeded;
            }
        }

        if (onDisk < limit)
        {
            limit = onDisk;
            overLimit = LowOnDisk;
        }

        reservation.Limit = limit;
        reservation.OverLimit = overLimit;
        return reservation;
    }

    /// <summary>
    /// Reserves <paramref name="bytes"/> for resumable session <paramref name="sessionId"/> (being opened with that
    /// size, or completed with those bytes) until <paramref name="expiresAt"/>; refused (and nothing kept) when they
    /// go past what the upload limit, the quota or the disk leave.
    /// </summary>
    public async Task<StorageReservation> ReserveSessionStorageAsync(string tenant, long maxBytes, string sessionId, DateTimeOffset expiresAt, long bytes,
        CancellationToken cancellationToken)
    {
        var reservation = await ReserveStorageAsync(tenant, maxBytes, bytes, cancellationToken, sessionId, expiresAt).ConfigureAwait(false);
        if (bytes > reservation.Limit)
        {
            await reservation.ReleaseAsync().ConfigureAwait(false);
            throw reservation.OverLimit?.Invoke() ?? HashingCopy.TooLarge(maxBytes);
        }

        return reservation;
    }

    /// <summary>
    /// A resumable session's reservation set to exactly <paramref name="bytes"/> (what it declared, or what it holds);
    /// the quota refusal when the tenant has no room for them. The session's chunks grow it as they arrive.
    /// </summary>
    public async Task<StorageReservation> HoldSessionStorageAsync(string tenant, string sessionId, DateTimeOffset expiresAt, long bytes, CancellationToken cancellationToken)
    {
        var reservation = await NewReservationAsync(tenant, sessionId, expiresAt, cancellationToken).ConfigureAwait(false);
        return await reservation.TryHoldAsync(bytes, cancellationToken).ConfigureAwait(false) ? reservation : throw reservation.QuotaExceeded();
    }

    // A reservation that holds nothing yet, with the tenant's quota and the refusal that names it.
    private async Task<StorageReservation> NewReservationAsync(string tenant, string? sessionId, DateTimeOffset? sessionExpiresAt, CancellationToken cancellationToken)
    {
        var own = TenantStorageQuotas is { } quotas ? await quotas(tenant, cancellationToken).ConfigureAwait(false) : null;
        var quota = own ?? _options.TenantStorageQuotaBytes;
        var source = own is null ? $"{RegistryOptions.Section}:TenantStorageQuotaBytes" : "the tenant's limits.storage_quota_bytes";
        RegistryException QuotaExceeded(StorageUse use) => new(
            RegistryErrorKind.InsufficientStorage,
            "storage_quota_exceeded",
            $"tenant '{tenant}' would go past its storage quota of {quota} bytes ({source}); its models, datasets and files hold {use.Stored} bytes"
                + (use.Reserved > 0 ? $" and its other uploads in progress reserve {use.Reserved} more" : ""),
            new Dictionary<string, object?> { ["limit_bytes"] = quota, ["used_bytes"] = use.Stored + use.Reserved });

        return new StorageReservation(
            quota > 0 ? _store : null,
            _time,
            sessionId ?? ResumableFiles.NewId(),
            tenant,
            Math.Max(quota, 0),
            sessionId is null ? null : sessionExpiresAt ?? Now + TimeSpan.FromHours(_options.UploadSessionTtlHours),
            QuotaExceeded);
    }

    /// <summary>Drops a resumable session's storage reservation (its session ended); left behind on an error, it lapses with the session.</summary>
    public async Task ReleaseStorageAsync(string sessionId)
    {
        try
        {
            await _store.ReleaseStorageAsync(sessionId, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // It stops counting when the session would have expired.
        }
    }

    /// <summary>Free bytes on the staging disk above <see cref="RegistryOptions.MinFreeDiskBytes"/>; throws 507 when there are none.</summary>
    public long FreeBytesAboveFloor()
    {
        if (_options.MinFreeDiskBytes <= 0)
        {
            return long.MaxValue;
        }

        var room = FreeDiskBytes() - _options.MinFreeDiskBytes;
        return room > 0 ? room : throw LowOnDisk();
    }

    private long FreeDiskBytes()
    {
        try
        {
            return new DriveInfo(_staging.Root).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return long.MaxValue; // unknown: the disk itself will say when it is full
        }
    }

    /// <summary>The 507 for an upload that would take the staging disk below its free-space floor.</summary>
    public RegistryException LowOnDisk() => new(
        RegistryErrorKind.InsufficientStorage,
        "insufficient_storage",
        $"the server's disk is below its free-space floor of {_options.MinFreeDiskBytes} bytes ({RegistryOptions.Section}:MinFreeDiskBytes); uploads are " +
        $"refused until space is freed",
        new Dictionary<string, object?> { ["floor_bytes"] = _options.MinFreeDiskBytes });

    private async ValueTask AbandonAsync(VersionDraft draft)
    {
        draft.Finished = true;
        StagingArea.DeleteQuietly(draft.Folder);
        await draft.Reservation.ReleaseAsync().ConfigureAwait(false);
        try
        {
            await _store.AbandonVersionAsync(draft.Model.Id, draft.Version, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The row stays 'uploading' (invisible); the next start-up removes it.
        }
    }

    /// <inheritdoc />
    public async Task<ModelVersion> CommitVersionAsync(VersionDraft draft, CancellationToken cancellationToken)
    {
        if (draft.Finished)
        {
            throw new InvalidOperationException("the draft was already committed or abandoned");
        }

        if (draft.Files.Count == 0)
        {
            throw VersionDraft.NoFiles();
        }

        await draft.CheckOptionsAsync(cancellationToken).ConfigureAwait(false); // done already when an import checked them
        var (primary, inspected) = draft.Inspect(cancellationToken); // done already when an import checked its file
        var files = new List<ArtifactFile> { primary };
        files.AddRange(draft.Files.Where(f => f != primary).OrderBy(f => f.Path, StringComparer.Ordinal));
        var bundle = files.Count > 1;
        var key = bundle ? BundleKey(files) : primary.Sha256;

        var version = new ModelVersion
        {
            ModelId = draft.Model.Id,
            Model = draft.Model.Key,
            Version = draft.Version,
            Status = VersionStatus.Ready,
            Format = inspected.Format,
            Sha256 = primary.Sha256,
            SizeBytes = files.Sum(f => f.SizeBytes),
            FileName = primary.Path,
            ArtifactKey = key,
            Files = files,
            Signature = inspected.Signature,
            Metadata = draft.Options.Metadata,
            DerivedFrom = draft.Options.DerivedFrom is { } lineage ? lineage with { Model = ModelKeys.Normalize(lineage.Model) } : null,
            CreatedBy = draft.Options.CreatedBy,
        };

        ModelVersion ready;
        using (await _artifactLocks.AcquireAsync(key, cancellationToken).ConfigureAwait(false))
        {
            // The uploading row names the artifact before it is committed: an orphan sweep in another process (a
            // server starting beside this one) then sees it referenced, and a delete elsewhere keeps it.
            if (!await _store.SetUploadingArtifactAsync(draft.Model.Id, draft.Version, key, cancellationToken).ConfigureAwait(false))
            {
                throw UploadAborted(draft);
            }

            var staged = bundle ? draft.Folder : Path.Combine(draft.Folder, primary.Path);
            await _artifacts.CommitAsync(key, staged, bundle, cancellationToken).ConfigureAwait(false);
            try
            {
                // The one atomic step: until this row says ready, no reader sees the version.
                ready = await _store.CompleteVersionAsync(version, Now, CancellationToken.None, draft.Reservation.HeldId).ConfigureAwait(false);
            }
            catch
            {
                // Not this row's any more (when it is still uploading), so the check below counts only other versions.
                try
                {
                    await _store.SetUploadingArtifactAsync(draft.Model.Id, draft.Version, null, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Then the artifact stays as referenced, until the row goes and a later sweep takes it.
                }

                if (!await _store.IsArtifactReferencedAsync(key, CancellationToken.None).ConfigureAwait(false))
                {
                    await _artifacts.DeleteAsync(key, CancellationToken.None).ConfigureAwait(false);
                }

                throw;
            }
        }

        draft.Finished = true;
        StagingArea.DeleteQuietly(draft.Folder);
        await draft.Reservation.ReleaseAsync().ConfigureAwait(false); // the commit dropped its row already: this deletes nothing
        Raise(new RegistryChange(RegistryChangeKind.VersionReady, ready.Model, ready.Version));
        return ready;
    }

    private static RegistryException UploadAborted(VersionDraft draft) => RegistryException.Conflict(
        "upload_aborted",
        $"version {draft.Version} of model '{draft.Model.Key}' is no longer being uploaded (the model or the reservation was deleted meanwhile)");

    // A bundle's key hashes its file list, so the same files under the same names share one stored copy.
    private static string BundleKey(IEnumerable<ArtifactFile> files)
    {
        var manifest = new StringBuilder();
        foreach (var file in files.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            manifest.Append(file.Path).Append('\t').Append(file.Sha256).Append('\t').Append(file.SizeBytes).Append('\n');
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(manifest.ToString())));
    }

    /// <inheritdoc />
    public async Task<ModelVersion> GetVersionAsync(string model, int version, CancellationToken cancellationToken)
    {
        model = ModelKeys.Validate(model);
        var found = await _store.GetVersionAsync(model, version, cancellationToken).ConfigureAwait(false);
        if (found is not null)
        {
            return found;
        }

        await GetModelAsync(model, cancellationToken).ConfigureAwait(false);
        throw RegistryException.VersionNotFound(model, version);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ModelVersion>> ListVersionsAsync(string model, CancellationToken cancellationToken)
    {
        var owner = await GetModelAsync(model, cancellationToken).ConfigureAwait(false);
        return await _store.ListVersionsAsync(owner.Key, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ModelVersion> SetVersionMetadataAsync(string model, int version, string key, string? value, CancellationToken cancellationToken)
    {
        var found = await GetVersionAsync(model, version, cancellationToken).ConfigureAwait(false);
        var metadata = found.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        if (value is null)
        {
            metadata.Remove(key);
        }
        else
        {
            metadata[key] = value;
        }

        if (!await _store.ReplaceVersionMetadataAsync(found.ModelId, found.Version, metadata, cancellationToken).ConfigureAwait(false))
        {
            throw RegistryException.VersionNotFound(found.Model, version);
        }

        // Serving keeps what it reads from metadata (class labels) with its resolutions, which a change refreshes.
        Raise(new RegistryChange(RegistryChangeKind.ModelChanged, found.Model, found.Version));
        return await GetVersionAsync(model, version, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ModelVersion> CompleteClassLabelsAsync(ModelVersion version, string localPath, CancellationToken cancellationToken)
    {
        var signature = version.Signature;
        if (version.Format != Formats.ModelFormat.Onnx || signature.ClassLabels is not null
            // Classifier nodes are ONNX-ML's: a file that imports no ONNX-ML opset has none (an older signature without
            // opsets may).
            || (signature.Opsets is { } opsets && !opsets.ContainsKey(Formats.Onnx.OnnxClassLabels.MlDomain))
            || _withoutClassLabels.ContainsKey(version.ArtifactKey))
        {
            return version;
        }

        // The whole file is walked (as at upload): on a thread of its own, not one of the pool's.
        var labels = await Hosting.DedicatedThread.Run("maas-labels", () => ArtifactInspector.ReadClassLabels(localPath, cancellationToken)).ConfigureAwait(false);
        if (labels is null)
        {
            if (_withoutClassLabels.Count >= MaxWithoutClassLabels)
            {
                _withoutClassLabels.Clear(); // a bound; a file read again costs a read, nothing else
            }

            _withoutClassLabels.TryAdd(version.ArtifactKey, 0);
            return version;
        }

        if (!await _store.AddVersionClassLabelsAsync(version.ModelId, version.Version, version.ArtifactKey, labels, cancellationToken).ConfigureAwait(false))
        {
            // Another server added them first, or the version changed or went: as the store has it now.
            return await _store.GetVersionAsync(version.Model, version.Version, cancellationToken).ConfigureAwait(false) ?? version;
        }

        // Serving keeps the labels with its resolutions, which a change refreshes.
        Raise(new RegistryChange(RegistryChangeKind.ModelChanged, version.Model, version.Version));
        return version with { Signature = signature with { ClassLabels = labels } };
    }

    /// <inheritdoc />
    public async Task DeleteVersionAsync(string model, int version, bool force, CancellationToken cancellationToken)
    {
        var found = await GetVersionAsync(model, version, cancellationToken).ConfigureAwait(false);
        model = found.Model;
        if (!force)
        {
            if (found.Aliases.Count > 0)
            {
                throw AliasedConflict(model, version, found.Aliases);
            }

            if (await GetUseAsync(found, cancellationToken).ConfigureAwait(false) is { } use)
            {
                throw RegistryException.Conflict(
                    "version_in_use",
                    $"version {version} of model '{model}' is in use ({use}); pass force=true to delete it anyway",
                    new Dictionary<string, object?> { ["in_use"] = use });
            }
        }

        foreach (var check in _useChecks)
        {
            // While the version still exists: what routes to it never meets it missing (a 404 for a deployed model).
            await check.VersionDeletingAsync(found, cancellationToken).ConfigureAwait(false);
        }

        using (await _artifactLocks.AcquireAsync(found.ArtifactKey, cancellationToken).ConfigureAwait(false))
        {
            var key = await _store.DeleteVersionAsync(found.ModelId, version, removeAliases: force, cancellationToken).ConfigureAwait(false)
                ?? throw RegistryException.VersionNotFound(model, version);
            if (!await _store.IsArtifactReferencedAsync(key, CancellationToken.None).ConfigureAwait(false))
            {
                await _artifacts.DeleteAsync(key, CancellationToken.None).ConfigureAwait(false);
            }
        }

        if (found.Aliases.Count > 0)
        {
            foreach (var alias in found.Aliases)
            {
                Raise(new RegistryChange(RegistryChangeKind.AliasChanged, model, version, alias));
            }
        }

        foreach (var check in _useChecks)
        {
            // Not the caller's token: the version is gone, so what routes to it must move even if the caller hung up.
            await check.VersionDeletedAsync(found, CancellationToken.None).ConfigureAwait(false);
        }

        Raise(new RegistryChange(RegistryChangeKind.VersionDeleted, model, version));
    }

    /// <summary>The conflict for deleting a version that aliases point at.</summary>
    public static RegistryException AliasedConflict(string model, int version, IReadOnlyList<string> aliases) => RegistryException.Conflict(
        "version_aliased",
        $"version {version} of model '{model}' is the target of alias(es) {string.Join(", ", aliases)}; move or delete them first, or pass force=true",
        new Dictionary<string, object?> { ["aliases"] = aliases });

    /// <inheritdoc />
    public async Task<ArtifactContent> OpenArtifactAsync(ModelVersion version, string? file, CancellationToken cancellationToken)
    {
        var name = file ?? version.FileName;
        if (!version.Files.Any(f => f.Path == name))
        {
            throw RegistryException.NotFound("file_not_found", $"version {version.Version} of model '{version.Model}' has no file '{RegistryNames.Shorten(name)}'");
        }

        try
        {
            return await _artifacts.OpenAsync(version.ArtifactKey, version.Files.Count > 1 ? name : null, cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException e)
        {
            throw new RegistryException(RegistryErrorKind.Unavailable, "artifact_missing",
                $"the artifact of version {version.Version} of model '{version.Model}' is missing from the {_artifacts.Kind} store", null, e);
        }
    }

    /// <inheritdoc />
    public async Task<string> GetLocalArtifactPathAsync(ModelVersion version, CancellationToken cancellationToken)
    {
        try
        {
            return await _artifacts.GetLocalPathAsync(version.ArtifactKey, version.Files.Count > 1 ? version.FileName : null, cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException e)
        {
            throw new RegistryException(RegistryErrorKind.Unavailable, "artifact_missing",
                $"the artifact of version {version.Version} of model '{version.Model}' is missing from the {_artifacts.Kind} store", null, e);
        }
    }

    // ---- aliases ----

    /// <inheritdoc />
    public async Task<ModelAlias> SetAliasAsync(string model, string alias, int version, AliasPrecondition condition, string updatedBy, CancellationToken cancellationToken)
    {
        RegistryNames.ValidateName(alias, "alias");
        var owner = await GetModelAsync(model, cancellationToken).ConfigureAwait(false);
        var result = await _store.SetAliasAsync(owner.Id, alias, version, condition, updatedBy, Now, cancellationToken).ConfigureAwait(false);
        Raise(new RegistryChange(RegistryChangeKind.AliasChanged, owner.Key, version, alias));
        return result;
    }

    /// <inheritdoc />
    public async Task DeleteAliasAsync(string model, string alias, AliasPrecondition condition, CancellationToken cancellationToken)
    {
        RegistryNames.ValidateName(alias, "alias");
        var owner = await GetModelAsync(model, cancellationToken).ConfigureAwait(false);
        if (!await _store.DeleteAliasAsync(owner.Id, alias, condition, cancellationToken).ConfigureAwait(false))
        {
            throw RegistryException.AliasNotFound(owner.Key, alias);
        }

        Raise(new RegistryChange(RegistryChangeKind.AliasChanged, owner.Key, null, alias));
    }

    /// <inheritdoc />
    public async Task<ModelAlias> GetAliasAsync(string model, string alias, CancellationToken cancellationToken)
    {
        RegistryNames.ValidateName(alias, "alias");
        var owner = await GetModelAsync(model, cancellationToken).ConfigureAwait(false);
        return await _store.GetAliasAsync(owner.Id, alias, cancellationToken).ConfigureAwait(false) ?? throw RegistryException.AliasNotFound(owner.Key, alias);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ModelAlias>> ListAliasesAsync(string model, CancellationToken cancellationToken)
    {
        var owner = await GetModelAsync(model, cancellationToken).ConfigureAwait(false);
        return await _store.ListAliasesAsync(owner.Id, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ResolvedVersion> ResolveAsync(ModelReference reference, CancellationToken cancellationToken)
    {
        var model = await GetModelAsync(reference.Model, cancellationToken).ConfigureAwait(false);
        if (reference.Version is { } number)
        {
            return new ResolvedVersion(model, await GetVersionAsync(model.Key, number, cancellationToken).ConfigureAwait(false), null);
        }

        var aliasName = reference.Alias ?? ModelReference.DefaultAlias;
        var alias = await _store.GetAliasAsync(model.Id, aliasName, cancellationToken).ConfigureAwait(false);
        if (alias is not null)
        {
            var target = await _store.GetVersionAsync(model.Key, alias.Version, cancellationToken).ConfigureAwait(false)
                ?? throw RegistryException.VersionNotFound(model.Key, alias.Version);
            return new ResolvedVersion(model, target, aliasName);
        }

        if (reference.Alias is not null)
        {
            throw RegistryException.AliasNotFound(model.Key, reference.Alias);
        }

        var latest = await _store.GetLatestVersionAsync(model.Key, cancellationToken).ConfigureAwait(false)
            ?? throw RegistryException.NotFound("no_ready_version", $"model '{model.Key}' has no ready version yet");
        return new ResolvedVersion(model, latest, null);
    }

    /// <summary>The error for content whose SHA-256 is not the one the caller or source promised.</summary>
    public static RegistryException ChecksumMismatch(string file, string expected, string actual) => RegistryException.Invalid(
        "checksum_mismatch",
        $"'{file}' has SHA-256 {actual} but {expected} was expected",
        new Dictionary<string, object?> { ["expected_sha256"] = expected, ["actual_sha256"] = actual });

    /// <summary>Checks and lowercases a caller's SHA-256 hex string (null stays null).</summary>
    public static string? NormalizeSha256(string? sha256)
    {
        if (sha256 is null)
        {
            return null;
        }

        var lower = sha256.Trim().ToLowerInvariant();
        return ArtifactKeys.IsValid(lower)
            ? lower
            : throw RegistryException.Invalid("invalid_sha256", $"'{RegistryNames.Shorten(sha256)}' is not a SHA-256 (64 hexadecimal characters)");
    }

    // ---- helpers ----

    private async Task ValidateOptionsAsync(NewVersionOptions options, CancellationToken cancellationToken)
    {
        if (options.Version is < 1)
        {
            throw RegistryException.Invalid("invalid_version", $"a version number must be 1 or more, not {options.Version}");
        }

        if (options.Metadata.Count > 256 || options.Metadata.Any(kv => kv.Key.Length is 0 or > 256 || kv.Value.Length > 65536))
        {
            throw RegistryException.Invalid("invalid_metadata", "metadata takes at most 256 entries, keys of 1 to 256 characters and values up to 64 KiB");
        }

        if (options.DerivedFrom is { } lineage)
        {
            RegistryNames.ValidateName(lineage.Relation, "relation");
            if (!ModelKeys.IsValid(lineage.Model) ||
                await _store.GetVersionAsync(ModelKeys.Normalize(lineage.Model), lineage.Version, cancellationToken).ConfigureAwait(false) is null)
            {
                throw RegistryException.Invalid(
                    "lineage_not_found",
                    $"derived_from names {RegistryNames.Shorten(lineage.Model)}/versions/{lineage.Version}, which is not a ready version");
            }
        }
    }

    private async Task<string?> GetUseAsync(ModelVersion version, CancellationToken cancellationToken)
    {
        foreach (var check in _useChecks)
        {
            if (await check.GetUseAsync(version, cancellationToken).ConfigureAwait(false) is { } use)
            {
                return use;
            }
        }

        return null;
    }

    private async Task<bool> DeleteArtifactIfUnusedAsync(string key, CancellationToken cancellationToken)
    {
        using (await _artifactLocks.AcquireAsync(key, cancellationToken).ConfigureAwait(false))
        {
            if (!await _store.IsArtifactReferencedAsync(key, cancellationToken).ConfigureAwait(false))
            {
                await _artifacts.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
                return true;
            }
        }

        return false;
    }

    private static void ValidateTags(IReadOnlyList<string>? tags)
    {
        if (tags is null)
        {
            return;
        }

        if (tags.Count > 64)
        {
            throw RegistryException.Invalid("invalid_tag", $"a model takes at most 64 tags, not {tags.Count}");
        }

        for (var i = 0; i < tags.Count; i++)
        {
            if (tags[i] is null)
            {
                // JSON null in the list: named as such, not as a tag ''.
                throw RegistryException.Invalid("invalid_name", $"tags[{i}] is null; a tag is a name (a-z, 0-9, '.', '_' and '-')");
            }

            RegistryNames.ValidateName(tags[i], "tag");
        }
    }

    private static void ValidateTask(string? task)
    {
        if (task is not null)
        {
            RegistryNames.ValidateName(task, "task");
        }
    }

    private static void ValidateText(string field, string? value, int max)
    {
        if (value is { Length: var length } && length > max)
        {
            throw RegistryException.Invalid("invalid_field", $"{field} is {length} characters; at most {max} are allowed");
        }

        if (RegistryNames.IndexOfControl(value) is var control and >= 0)
        {
            throw RegistryException.Invalid("invalid_field", RegistryNames.ControlMessage(field, value!, control));
        }
    }

    /// <inheritdoc />
    public void ReportDeletedElsewhere(string model, int? version) => Raise(version is { } deleted
        ? new RegistryChange(RegistryChangeKind.VersionDeleted, model, deleted)
        : new RegistryChange(RegistryChangeKind.ModelDeleted, model));

    /// <inheritdoc />
    public void ReportChangedElsewhere(string model) => Raise(new RegistryChange(RegistryChangeKind.ModelChanged, model));

    private void Raise(RegistryChange change)
    {
        var handlers = Changed;
        if (handlers is null)
        {
            return;
        }

        foreach (var handler in handlers.GetInvocationList().Cast<EventHandler<RegistryChange>>())
        {
            try
            {
                handler(this, change);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A subscriber's failure must not turn a committed change into an error for the caller.
            }
        }
    }
}
