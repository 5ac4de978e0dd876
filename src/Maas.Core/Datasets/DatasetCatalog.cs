using System.Security.Cryptography;
using Maas.Core.Hosting;
using Maas.Core.IO;
using Maas.Core.Registry;

namespace Maas.Core.Datasets;

/// <summary>
/// The rules of datasets over a store and the artifact store: names, uploads parsed and described before they are
/// kept, files content-addressed like model artifacts, deletes refused while a model version's lineage names them.
/// Uploads are held to the storage limits of <paramref name="models"/>: one quota per tenant over models and datasets.
/// </summary>
public sealed class DatasetCatalog(
    IDatasetStore store,
    IArtifactStore artifacts,
    IRegistryStore registry,
    ModelRegistry models,
    StagingArea staging,
    DatasetOptions options,
    TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    // Resumable uploads keep their bytes in a folder of their own, so the registry's start-up sweep (which knows only
    // its own sessions) leaves them alone.
    private readonly ResumableFiles _uploads = new(new StagingArea(Path.Combine(staging.Root, "datasets")));
    private readonly SemaphoreSlim _sweepOnce = new(1, 1);
    private bool _swept;

    /// <summary>The limits in use.</summary>
    public DatasetOptions Options => options;

    /// <summary>
    /// Tests only: awaited by the one-time sweep of crash leftovers between its two looks (at the session files and at the
    /// session records), so a test can start an upload in between.
    /// </summary>
    internal Func<Task>? LeftoverSweepCheckpoint { get; set; }

    /// <summary>Creates a dataset.</summary>
    public Task<Dataset> CreateAsync(string name, string owner, ModelVisibility visibility, string description, string createdBy, CancellationToken cancellationToken)
    {
        RegistryNames.ValidateName(name, "dataset");
        if (description.Length > 4096)
        {
            throw RegistryException.Invalid("invalid_description", $"description may have at most 4096 characters, not {description.Length}");
        }

        if (RegistryNames.IndexOfControl(description) is var control and >= 0)
        {
            throw RegistryException.Invalid("invalid_description", RegistryNames.ControlMessage("description", description, control));
        }

        return store.CreateDatasetAsync(
            new Dataset { Name = name, Owner = owner, Visibility = visibility, Description = description, CreatedBy = createdBy, CreatedAt = StoredTime.Of(_time.GetUtcNow()) },
            cancellationToken);
    }

    /// <summary>A dataset; dataset_not_found otherwise.</summary>
    public async Task<Dataset> GetAsync(string name, CancellationToken cancellationToken)
    {
        RegistryNames.ValidateName(name, "dataset");
        return await store.GetDatasetAsync(name, cancellationToken).ConfigureAwait(false) ?? throw NotFound(name);
    }

    /// <summary>Datasets visible to a tenant (all for null).</summary>
    public Task<IReadOnlyList<Dataset>> ListAsync(string? visibleTo, CancellationToken cancellationToken) => store.ListDatasetsAsync(visibleTo, cancellationToken);

    /// <summary>The versions of a dataset.</summary>
    public async Task<IReadOnlyList<DatasetVersion>> ListVersionsAsync(string name, CancellationToken cancellationToken)
    {
        await GetAsync(name, cancellationToken).ConfigureAwait(false);
        return await store.ListVersionsAsync(name, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One version; dataset_version_not_found otherwise. A null version means the newest.</summary>
    public async Task<DatasetVersion> GetVersionAsync(string name, int? version, CancellationToken cancellationToken)
    {
        var dataset = await GetAsync(name, cancellationToken).ConfigureAwait(false);
        var number = version ?? dataset.LatestVersion ?? throw RegistryException.NotFound("dataset_version_not_found", $"dataset '{name}' has no versions yet");
        return await store.GetVersionAsync(name, number, cancellationToken).ConfigureAwait(false)
            ?? throw RegistryException.NotFound("dataset_version_not_found", $"dataset '{name}' has no version {number}");
    }

    /// <summary>
    /// Stores <paramref name="content"/> as a new version: streamed to staging while hashed (size limit checked as it
    /// arrives), parsed by the format its file name says, described, then committed under its SHA-256. Its bytes
    /// (<paramref name="declaredBytes"/> at once when the caller declared them) count against the tenant's storage
    /// quota while it is stored.
    /// </summary>
    public async Task<DatasetVersion> AddVersionAsync(
        string name, string fileName, Stream content, string createdBy, CancellationToken cancellationToken, DatasetUploadChoices? choices = null, long? declaredBytes = null)
    {
        var dataset = await GetAsync(name, cancellationToken).ConfigureAwait(false);
        RegistryNames.ValidateFilePath(fileName);
        var (format, gzip) = DatasetFormats.FromFileName(fileName)
            ?? throw RegistryException.Invalid("unsupported_format", $"'{RegistryNames.Shorten(fileName)}' has no dataset extension; use {DatasetFormats.Accepted}");

        await using var reservation = await models.ReserveStorageAsync(dataset.Owner, options.MaxUploadBytes, 0, cancellationToken).ConfigureAwait(false);
        var (limit, overLimit) = (reservation.Limit, reservation.OverLimit);
        if (declaredBytes > limit)
        {
            throw overLimit?.Invoke() ?? HashingCopy.TooLarge(options.MaxUploadBytes);
        }

        if (declaredBytes is { } declared)
        {
            await reservation.EnsureAsync(declared, cancellationToken, exact: true).ConfigureAwait(false);
        }

        var folder = staging.CreateDraftFolder();
        try
        {
            var path = Path.Combine(folder, "upload");
            string sha256;
            long size;
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
                {
                    try
                    {
                        size = await HashingCopy.CopyAsync(
                            content, file, hash, limit, null, cancellationToken, options.MaxUploadBytes, (total, ct) => reservation.EnsureAsync(total, ct)).ConfigureAwait(false);
                    }
                    catch (RegistryException e) when (e.Kind == RegistryErrorKind.TooLarge && overLimit is not null)
                    {
                        throw overLimit(); // the quota or the disk's floor stopped it, not the size limit
                    }
                }

                sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
            }

            return await AddStagedVersionAsync(name, fileName, format, gzip, path, sha256, size, createdBy, choices, reservation.HeldId, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            StagingArea.DeleteQuietly(folder);
        }
    }

    // Parses and describes a staged file, then commits it under its SHA-256 as the dataset's next version.
    private async Task<DatasetVersion> AddStagedVersionAsync(
        string name,
        string fileName,
        DatasetFormat format,
        bool gzip,
        string path,
        string sha256,
        long size,
        string createdBy,
        DatasetUploadChoices? choices,
        string? releasedReservation,
        CancellationToken cancellationToken)
    {
        var table = await ParseStagedAsync(path, format, gzip, choices, cancellationToken).ConfigureAwait(false);
        return await CommitStagedAsync(name, fileName, format, gzip, path, sha256, size, createdBy, table, releasedReservation, cancellationToken).ConfigureAwait(false);
    }

    // Reads a staged file as the choices say; leaves the file where it is.
    private async Task<DatasetTable> ParseStagedAsync(string path, DatasetFormat format, bool gzip, DatasetUploadChoices? choices, CancellationToken cancellationToken)
    {
        // Parsing a large file takes seconds of CPU: on a thread of its own, not one of the pool's that serve requests.
        cancellationToken.ThrowIfCancellationRequested();
        var table = await DedicatedThread.Run("maas-dataset",
            () => ParseFile(path, format, gzip, options.ReadOptionsForNewTables() with { ImageSize = choices?.ImageSize }, choices?.Schema)).ConfigureAwait(false);
        if (table.Rows.Count == 0)
        {
            throw RegistryException.Invalid("invalid_dataset", "the file has a header but no rows");
        }

        return table;
    }

    // Moves a parsed staged file into the artifact store under its SHA-256 and records it as the dataset's next version.
    private async Task<DatasetVersion> CommitStagedAsync(
        string name,
        string fileName,
        DatasetFormat format,
        bool gzip,
        string path,
        string sha256,
        long size,
        string createdBy,
        DatasetTable table,
        string? releasedReservation,
        CancellationToken cancellationToken)
    {
        var statistics = DatasetStatisticsCalculator.Compute(table);
        await artifacts.CommitAsync(sha256, path, bundle: false, cancellationToken).ConfigureAwait(false);
        try
        {
            return await store.AddVersionAsync(
                new DatasetVersion
                {
                    Dataset = name,
                    Format = table.DetectedFormat ?? format,
                    Gzip = gzip,
                    FileName = fileName,
                    Sha256 = sha256,
                    SizeBytes = size,
                    Rows = table.Rows.Count,
                    Schema = table.Columns,
                    Statistics = statistics,
                    CreatedBy = createdBy,
                    CreatedAt = StoredTime.Of(_time.GetUtcNow()),
                },
                CancellationToken.None,
                releasedReservation).ConfigureAwait(false);
        }
        catch
        {
            await DeleteArtifactIfUnusedAsync(sha256).ConfigureAwait(false);
            throw;
        }
    }

    // ---- resumable uploads (the registry's protocol: chunks at offsets, resumed after a broken connection) ----

    /// <summary>
    /// Opens a resumable upload of <paramref name="fileName"/> into dataset <paramref name="name"/>; refused when the
    /// announced size is over the limit or the tenant's storage room (507), or the tenant has too many open (429
    /// too_many_upload_sessions).
    /// </summary>
    public async Task<DatasetUploadSession> CreateUploadAsync(string name, string fileName, long? totalBytes, string? sha256, string createdBy, CancellationToken cancellationToken)
    {
        var dataset = await GetAsync(name, cancellationToken).ConfigureAwait(false);
        sha256 = ResumableFiles.CheckNew(fileName, totalBytes, options.MaxUploadBytes, sha256);
        _ = DatasetFormats.FromFileName(fileName)
            ?? throw RegistryException.Invalid("unsupported_format", $"'{RegistryNames.Shorten(fileName)}' has no dataset extension; use {DatasetFormats.Accepted}");
        await PrepareUploadsAsync(cancellationToken).ConfigureAwait(false);
        var open = await store.CountUploadSessionsAsync(dataset.Owner, cancellationToken).ConfigureAwait(false);
        ResumableFiles.CheckRoom(dataset.Owner, open, options.MaxUploadSessionsPerTenant, "dataset uploads", $"{DatasetOptions.Section}:MaxUploadSessionsPerTenant");
        var now = StoredTime.Of(_time.GetUtcNow());
        var id = ResumableFiles.NewId();
        var expiresAt = now + TimeSpan.FromHours(options.UploadSessionTtlHours);

        // The declared size counts against the tenant's quota from now until the session ends.
        var reservation = await models.ReserveSessionStorageAsync(dataset.Owner, options.MaxUploadBytes, id, expiresAt, totalBytes ?? 0, cancellationToken).ConfigureAwait(false);
        var session = new DatasetUploadSession
        {
            Id = id,
            Dataset = dataset.Name,
            Owner = dataset.Owner,
            FileName = fileName,
            TotalBytes = totalBytes,
            ExpectedSha256 = sha256,
            CreatedBy = createdBy,
            CreatedAt = now,
            ExpiresAt = expiresAt,
        };
        return await _uploads.OpenAsync(session, reservation, () => store.CreateUploadSessionAsync(session, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A live session with its current offset; 404 upload_not_found otherwise.</summary>
    public async Task<DatasetUploadSession> GetUploadAsync(string id, CancellationToken cancellationToken)
    {
        var session = await FindSessionAsync(id, cancellationToken).ConfigureAwait(false);
        return session with { Offset = _uploads.Length(id) };
    }

    /// <summary>Appends a chunk that starts at <paramref name="offset"/> (409 offset_mismatch otherwise) and returns the session.</summary>
    public async Task<DatasetUploadSession> AppendUploadAsync(string id, long offset, Stream chunk, CancellationToken cancellationToken)
    {
        var session = await FindSessionAsync(id, cancellationToken).ConfigureAwait(false);
        using var held = _uploads.Lock(id, "retry");
        long length;
        try
        {
            length = await _uploads.AppendAsync(
                id,
                offset,
                chunk,
                session.TotalBytes,
                options.MaxUploadBytes,
                models.FreeBytesAboveFloor(), // the registry's floor: datasets and models share the disk
                models.LowOnDisk,
                (bytes, ct) => models.HoldSessionStorageAsync(session.Owner, id, session.ExpiresAt, bytes, ct),
                fsync: false,
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // Its file went with the session: another server sharing the database expired it before this chunk began.
            throw await UploadGoneAsync(id).ConfigureAwait(false);
        }

        // The session's lock is this process's only: another server sharing the database and folder may have expired
        // the session (and deleted its file) while this chunk arrived; then the chunk is refused and nothing of it kept.
        if (await store.GetUploadSessionAsync(id, CancellationToken.None).ConfigureAwait(false) is null)
        {
            throw await UploadGoneAsync(id).ConfigureAwait(false);
        }

        return session with { Offset = length };
    }

    /// <summary>Abandons a session and its bytes.</summary>
    public async Task CancelUploadAsync(string id, CancellationToken cancellationToken)
    {
        await FindSessionAsync(id, cancellationToken).ConfigureAwait(false);
        using var held = _uploads.Lock(id, "cancel");
        await DropUploadAsync(id, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Turns a full session into the dataset's next version, exactly as a raw upload of the same bytes would be
    /// (parsed, described, content-addressed; 507 past the tenant's storage room). The session is used up whatever the
    /// outcome, as the registry's are, except a 400 of reading the file, which other choices may mend.
    /// </summary>
    public async Task<DatasetVersion> CompleteUploadAsync(string id, string createdBy, DatasetUploadChoices? choices, CancellationToken cancellationToken)
    {
        var session = await FindSessionAsync(id, cancellationToken).ConfigureAwait(false);
        using var held = _uploads.Lock(id, "complete it");
        var length = _uploads.CompleteLength(session);
        if (length == 0)
        {
            throw RegistryException.Invalid("empty_upload", $"upload '{id}' has no bytes yet");
        }

        var keep = false;
        try
        {
            var (format, gzip) = DatasetFormats.FromFileName(session.FileName)!.Value;
            var path = _uploads.PathOf(id);
            var sha256 = await _uploads.Sha256Async(id, length, cancellationToken).ConfigureAwait(false);
            ResumableFiles.CheckSha256(session, sha256);
            var dataset = await GetAsync(session.Dataset, cancellationToken).ConfigureAwait(false);
            // The session's own reservation, now exactly its bytes: held until the version is stored and the session dropped.
            var reservation = await models.ReserveSessionStorageAsync(dataset.Owner, options.MaxUploadBytes, id, session.ExpiresAt, length, cancellationToken)
                .ConfigureAwait(false);
            DatasetTable table;
            try
            {
                table = await ParseStagedAsync(path, format, gzip, choices, cancellationToken).ConfigureAwait(false);
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.Invalid)
            {
                // The bytes stay (until DELETE or expiry): a 400 such as a picture of another size without ?image_size= or
                // a ?schema= type that does not convert is fixed by completing again with other choices, and used to
                // cost the whole upload.
                keep = true;
                throw;
            }

            return await CommitStagedAsync(session.Dataset, session.FileName, format, gzip, path, sha256, length, createdBy, table, reservation.HeldId, cancellationToken)
                .ConfigureAwait(false);
        }
        finally
        {
            if (!keep)
            {
                await DropUploadAsync(id, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private Task<DatasetUploadSession> FindSessionAsync(string id, CancellationToken cancellationToken) =>
        ResumableFiles.FindAsync(
            id,
            async () =>
            {
                if (!_swept)
                {
                    await PrepareUploadsAsync(cancellationToken).ConfigureAwait(false);
                }

                return await store.GetUploadSessionAsync(id, cancellationToken).ConfigureAwait(false);
            },
            _time.GetUtcNow());

    /// <summary>
    /// Removes upload sessions whose time ran out (their record, staged bytes and storage reservation), unless a chunk
    /// of one is arriving right now (the next call takes it); returns how many. The server calls it every
    /// Maas:Registry:UploadSessionSweepMs.
    /// </summary>
    /// <remarks>
    /// Leftovers of a crash are not looked for here: the first use of an upload in this process does that, once.
    /// </remarks>
    public Task<int> ExpireUploadsAsync(CancellationToken cancellationToken) => PrepareUploadsAsync(cancellationToken, leftovers: false);

    // Once per process, before any session is touched: drop session files no session record owns (left by a crash;
    // an expired session's record still owns its file, which the expiry drops with it). Every time: drop sessions whose
    // time ran out, unless a chunk of one is arriving right now.
    private async Task<int> PrepareUploadsAsync(CancellationToken cancellationToken, bool leftovers = true)
    {
        await _sweepOnce.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var removed = 0;
            var now = _time.GetUtcNow();
            var sessions = await store.ListUploadSessionsAsync(cancellationToken).ConfigureAwait(false);
            foreach (var expired in sessions.Where(s => s.ExpiresAt <= now))
            {
                using var held = _uploads.TryLock(expired.Id);
                if (held is not null)
                {
                    await DropUploadAsync(expired.Id, cancellationToken).ConfigureAwait(false);
                    removed++;
                }
            }

            if (leftovers && !_swept)
            {
                // Files first, records after (StagingArea.SweepSessionFilesAsync): an upload that another server sharing
                // the database and data folder starts meanwhile has its record by the time its file exists, and keeps it.
                await _uploads.Staging.SweepSessionFilesAsync(
                    async ct =>
                    {
                        if (LeftoverSweepCheckpoint is { } hold)
                        {
                            await hold().ConfigureAwait(false);
                        }

                        var all = await store.ListUploadSessionsAsync(ct).ConfigureAwait(false);
                        return all.Select(s => s.Id).ToHashSet(StringComparer.Ordinal);
                    },
                    cancellationToken).ConfigureAwait(false);
                _swept = true;
            }

            return removed;
        }
        finally
        {
            _sweepOnce.Release();
        }
    }

    private async Task<RegistryException> UploadGoneAsync(string id)
    {
        _uploads.Drop(id);
        await models.ReleaseStorageAsync(id).ConfigureAwait(false);
        return RegistryException.NotFound("upload_not_found", $"upload '{id}' does not exist or has expired");
    }

    private async Task DropUploadAsync(string id, CancellationToken cancellationToken)
    {
        await store.DeleteUploadSessionAsync(id, cancellationToken).ConfigureAwait(false);
        _uploads.Drop(id);
        await models.ReleaseStorageAsync(id).ConfigureAwait(false);
    }

    /// <summary>
    /// Parses a stored file, with column types replaced by <paramref name="schema"/>; a bad file is a 400 naming the line or
    /// record. A fired <paramref name="cancellationToken"/> stops it at its next read of the file (every 64 KiB at most).
    /// </summary>
    public static DatasetTable ParseFile(string path, DatasetFormat format, bool gzip, DatasetReadOptions? read = null,
        IReadOnlyDictionary<string, DatasetColumnType>? schema = null, CancellationToken cancellationToken = default)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using var content = cancellationToken.CanBeCanceled ? new CancellableReadStream(file, cancellationToken) : null;
        try
        {
            var table = DatasetParser.Parse((Stream?)content ?? file, format, gzip, read);
            return schema is { Count: > 0 } ? DatasetSchemaOverride.Apply(table, schema) : table;
        }
        catch (DatasetFormatException e)
        {
            throw RegistryException.Invalid("invalid_dataset", e.Message, e.Details);
        }
        catch (DatasetTooLargeException e)
        {
            throw new RegistryException(RegistryErrorKind.TooLarge, "dataset_too_large", e.Message, new Dictionary<string, object?> { ["limit"] = e.Limit });
        }
    }

    // The column, field and row limits are an upload's (DatasetOptions.ReadOptionsForNewTables): a version stored under
    // higher ones still loads.
    private DatasetReadOptions ReadOptions(DatasetImageSize? imageSize) => new()
    {
        MaxDecompressedBytes = options.MaxDecompressedBytes,
        MaxArchiveEntries = options.MaxArchiveEntries,
        MaxColumns = int.MaxValue,
        MaxFieldBytes = int.MaxValue,
        MaxRowBytes = int.MaxValue,
        ImageSize = imageSize,
    };

    /// <summary>Reads a version back into a table (for previews and training); a cancel stops the read of a large file where it is.</summary>
    public async Task<DatasetTable> LoadAsync(DatasetVersion version, CancellationToken cancellationToken)
    {
        var path = await artifacts.GetLocalPathAsync(version.Sha256, null, cancellationToken).ConfigureAwait(false);
        // The stored schema keeps what the upload chose: the picture size and any overridden column types.
        var image = version.Schema.FirstOrDefault(c => c.Type == DatasetColumnType.Image && c.Shape is { Count: >= 2 });
        var imageSize = version.Format == DatasetFormat.ImageFolder && image is not null ? new DatasetImageSize(image.Shape![1], image.Shape[0]) : null;
        cancellationToken.ThrowIfCancellationRequested();
        return await DedicatedThread.Run(
            "maas-dataset",
            () =>
            {
                // A version stored before JSON Lines keys and Parquet fields were trimmed keeps the names it was stored with.
                var read = ReadOptions(imageSize) with { TrimColumnNames = version.Schema.All(c => c.Name.Trim().Length == c.Name.Length) };
                var table = ParseFile(path, version.Format, version.Gzip, read, cancellationToken: cancellationToken);
                var kept = DatasetSchemaOverride.Differences(version.Schema, table);
                return kept.Count > 0 ? DatasetSchemaOverride.Apply(table, kept) : table;
            }).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes a version; refused while a model version's lineage names it, unless <paramref name="force"/>. The refusal
    /// names the models <paramref name="mayName"/> lets the caller see (by model key) and only counts the others.
    /// </summary>
    public async Task DeleteVersionAsync(string name, int version, bool force, Func<string, CancellationToken, ValueTask<bool>> mayName, CancellationToken cancellationToken)
    {
        var found = await GetVersionAsync(name, version, cancellationToken).ConfigureAwait(false);
        if (!force)
        {
            await RefuseIfUsedAsync(name, version, mayName, cancellationToken).ConfigureAwait(false);
        }

        var key = await store.DeleteVersionAsync(name, found.Version, cancellationToken).ConfigureAwait(false);
        if (key is not null)
        {
            await DeleteArtifactIfUnusedAsync(key).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Deletes a dataset and its versions; refused while a model version's lineage names one, unless <paramref name="force"/>.
    /// The refusal names the models <paramref name="mayName"/> lets the caller see (by model key) and only counts the others.
    /// </summary>
    public async Task DeleteAsync(string name, bool force, Func<string, CancellationToken, ValueTask<bool>> mayName, CancellationToken cancellationToken)
    {
        await GetAsync(name, cancellationToken).ConfigureAwait(false);
        if (!force)
        {
            await RefuseIfUsedAsync(name, null, mayName, cancellationToken).ConfigureAwait(false);
        }

        var keys = await store.DeleteDatasetAsync(name, cancellationToken).ConfigureAwait(false) ?? throw NotFound(name);
        foreach (var session in (await store.ListUploadSessionsAsync(CancellationToken.None).ConfigureAwait(false)).Where(s => s.Dataset == name))
        {
            await DropUploadAsync(session.Id, CancellationToken.None).ConfigureAwait(false);
        }

        foreach (var key in keys.Distinct(StringComparer.Ordinal))
        {
            await DeleteArtifactIfUnusedAsync(key).ConfigureAwait(false);
        }
    }

    /// <summary>Records that a model version was trained from a dataset version.</summary>
    public Task RecordUseAsync(DatasetUse use, CancellationToken cancellationToken) => store.AddUseAsync(use, cancellationToken);

    // The lineage of another tenant's private model is that tenant's business: counted in the refusal, never named.
    private async Task RefuseIfUsedAsync(string name, int? version, Func<string, CancellationToken, ValueTask<bool>> mayName, CancellationToken cancellationToken)
    {
        var uses = await store.ListUsesAsync(name, version, cancellationToken).ConfigureAwait(false);
        if (uses.Count == 0)
        {
            return;
        }

        var visible = new HashSet<string>(StringComparer.Ordinal);
        foreach (var model in uses.Select(u => u.Model).Distinct(StringComparer.Ordinal))
        {
            if (await mayName(model, cancellationToken).ConfigureAwait(false))
            {
                visible.Add(model);
            }
        }

        var listed = uses.Where(u => visible.Contains(u.Model)).ToArray();
        var named = listed.Select(u => $"{u.Model} version {u.ModelVersion}").Distinct().ToArray();
        var unlisted = uses.Where(u => !visible.Contains(u.Model)).Select(u => (u.Model, u.ModelVersion)).Distinct().Count();
        throw RegistryException.Conflict(
            "dataset_in_use",
            $"{(version is { } v ? $"version {v} of dataset '{name}'" : $"dataset '{name}'")} is named by the lineage of " +
            $"{InUseListing.Of(named, unlisted, "model version", "model versions")}; " +
            "pass force=true to delete it anyway",
            new Dictionary<string, object?>
            {
                ["used_by"] = listed.Select(u => new Dictionary<string, object?> { ["model"] = u.Model, ["version"] = u.ModelVersion, ["dataset_version"] = u.Version }).ToArray(),
                ["unlisted_model_versions"] = unlisted,
            });
    }

    private async Task DeleteArtifactIfUnusedAsync(string key)
    {
        if (!await store.IsArtifactReferencedAsync(key, CancellationToken.None).ConfigureAwait(false)
            && !await registry.IsArtifactReferencedAsync(key, CancellationToken.None).ConfigureAwait(false))
        {
            await artifacts.DeleteAsync(key, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static RegistryException NotFound(string name) =>
        RegistryException.NotFound("dataset_not_found", $"dataset '{RegistryNames.Shorten(name)}' does not exist");
}
