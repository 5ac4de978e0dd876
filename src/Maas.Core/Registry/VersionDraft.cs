using System.Security.Cryptography;

namespace Maas.Core.Registry;

/// <summary>
/// A version being created: its number is reserved (invisible to readers) and its files are staged. Commit it with
/// <see cref="IModelRegistry.CommitVersionAsync"/>; disposing an uncommitted draft gives the number back as abandoned
/// and deletes the staged files.
/// </summary>
public sealed class VersionDraft : IAsyncDisposable
{
    private readonly List<ArtifactFile> _files = [];
    private readonly Func<VersionDraft, ValueTask> _abandon;
    private readonly Func<NewVersionOptions, CancellationToken, Task> _checkOptions;
    private readonly bool _fsync;
    private (ArtifactFile Primary, InspectedArtifact Artifact)? _inspection;
    private NewVersionOptions? _checkedOptions;

    internal VersionDraft(
        Model model,
        int version,
        string folder,
        NewVersionOptions options,
        StorageReservation reservation,
        bool fsync,
        Func<VersionDraft, ValueTask> abandon,
        Func<NewVersionOptions, CancellationToken, Task> checkOptions)
    {
        Model = model;
        Version = version;
        Folder = folder;
        Options = options;
        Reservation = reservation;
        _fsync = fsync;
        _abandon = abandon;
        _checkOptions = checkOptions;
    }

    /// <summary>The model the version belongs to.</summary>
    public Model Model { get; }

    /// <summary>The reserved version number.</summary>
    public int Version { get; }

    /// <summary>The staging folder of its files.</summary>
    public string Folder { get; }

    /// <summary>Metadata, lineage and creator; may still change until commit (the number may not).</summary>
    public NewVersionOptions Options { get; set; }

    /// <summary>The size limit of all files together.</summary>
    public long Limit => Reservation.Limit;

    /// <summary>
    /// The bytes of its tenant's storage quota the draft holds until it is committed or abandoned: grown as files
    /// arrive, so that uploads running at once cannot together pass the quota.
    /// </summary>
    public StorageReservation Reservation { get; }

    /// <summary>
    /// The error for going past <see cref="Limit"/>: upload_too_large naming the configured maximum, or, when what
    /// was left of the tenant's storage quota or of the disk above its free-space floor set the limit, that.
    /// </summary>
    public RegistryException OverLimit() => Reservation.OverLimit?.Invoke() ?? HashingCopy.TooLarge(Limit);

    /// <summary>
    /// Holds <paramref name="bytes"/> more of the tenant's quota at once, for a file whose size is declared (a
    /// Content-Length): refused now, as the copy would be later, when they do not fit.
    /// </summary>
    public async Task DeclareAsync(long bytes, CancellationToken cancellationToken)
    {
        if (TotalBytes + bytes > Limit)
        {
            throw OverLimit();
        }

        await Reservation.EnsureAsync(TotalBytes + bytes, cancellationToken, exact: true).ConfigureAwait(false);
    }

    /// <summary>The staged files in the order they arrived.</summary>
    public IReadOnlyList<ArtifactFile> Files => _files;

    /// <summary>The bytes staged so far.</summary>
    public long TotalBytes => _files.Sum(f => f.SizeBytes);

    internal bool Finished { get; set; }

    /// <summary>Streams one file into the draft, hashing it on the way; the size limit is checked as bytes arrive.</summary>
    public async Task<ArtifactFile> AddFileAsync(string fileName, Stream content, Action<long>? progress, CancellationToken cancellationToken)
    {
        var path = PrepareTarget(fileName);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long size;
        await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None))
        {
            try
            {
                var before = TotalBytes;
                size = await HashingCopy.CopyAsync(
                    content, file, hash, Limit - before, progress, cancellationToken, Limit, (total, ct) => Reservation.EnsureAsync(before + total, ct)).ConfigureAwait(false);
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.TooLarge && Reservation.OverLimit is not null)
            {
                throw OverLimit();
            }
            if (_fsync)
            {
                file.Flush(flushToDisk: true);
            }
        }

        var added = new ArtifactFile(fileName, Convert.ToHexStringLower(hash.GetHashAndReset()), size);
        Added(added);
        return added;
    }

    /// <summary>
    /// Adds a file that is already on the staging disk (a finished resumable upload, a download), moving it into the
    /// draft; <paramref name="sha256"/> is computed when not known.
    /// </summary>
    public async Task<ArtifactFile> AddStagedFileAsync(string fileName, string stagedPath, string? sha256, CancellationToken cancellationToken)
    {
        var size = new FileInfo(stagedPath).Length;
        if (TotalBytes + size > Limit)
        {
            throw OverLimit();
        }

        await Reservation.EnsureAsync(TotalBytes + size, cancellationToken, exact: true).ConfigureAwait(false);

        var path = PrepareTarget(fileName);
        if (!string.Equals(Path.GetFullPath(stagedPath), path, StringComparison.Ordinal))
        {
            File.Move(stagedPath, path);
        }

        if (_fsync)
        {
            await using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
            file.Flush(flushToDisk: true);
        }

        sha256 ??= await HashingCopy.HashFileAsync(path, cancellationToken).ConfigureAwait(false);
        var added = new ArtifactFile(fileName, sha256, size);
        Added(added);
        return added;
    }

    /// <summary>
    /// The check a version's files must pass to be committed, the one <see cref="IModelRegistry.CommitVersionAsync"/>
    /// runs: at least one file, exactly one of them the model (the primary; the rest its external data), and that model
    /// read and validated by <see cref="ArtifactInspector"/> (400 <c>unknown_format</c>, <c>invalid_model_file</c>,
    /// <c>unexpected_file</c>, <c>ambiguous_model_file</c>, <c>empty_upload</c>). An import runs it before its point of
    /// no return, so a bad file fails while a cancel still stops it; the result is kept until another file is added,
    /// so the commit that follows does not read the files again.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired while the files were read.</exception>
    internal (ArtifactFile Primary, InspectedArtifact Artifact) Inspect(CancellationToken cancellationToken)
    {
        if (_inspection is { } done)
        {
            return done;
        }

        if (_files.Count == 0)
        {
            throw NoFiles();
        }

        var primary = PickPrimary(_files);
        var inspected = ArtifactInspector.Inspect(Folder, primary.Path, _files.Select(f => f.Path).ToArray(), cancellationToken);
        _inspection = (primary, inspected);
        return (primary, inspected);
    }

    /// <summary>
    /// The check of <see cref="Options"/> that <see cref="IModelRegistry.CommitVersionAsync"/> runs (version number,
    /// metadata, and a <c>derived_from</c> that names a ready version: 400 <c>invalid_version</c>,
    /// <c>invalid_metadata</c>, <c>lineage_not_found</c>). The options were checked when the draft began, but may be set
    /// again since (a multipart upload's fields after its files), and the version a lineage names may have been deleted
    /// meanwhile. An import runs it before its point of no return, with <see cref="Inspect"/>; passed, it holds for these
    /// options (the same instance), so the commit that follows does not check again and cannot fail for them: a lineage
    /// version deleted after this check is as one deleted after the commit, which the version outlives.
    /// </summary>
    internal async Task CheckOptionsAsync(CancellationToken cancellationToken)
    {
        var options = Options;
        if (ReferenceEquals(_checkedOptions, options))
        {
            return;
        }

        await _checkOptions(options, cancellationToken).ConfigureAwait(false);
        _checkedOptions = options;
    }

    /// <summary>The 400 for a draft committed without a file.</summary>
    internal static RegistryException NoFiles() => RegistryException.Invalid("empty_upload", "no file was uploaded for the version");

    private static ArtifactFile PickPrimary(IReadOnlyList<ArtifactFile> files)
    {
        if (files.Count == 1)
        {
            return files[0];
        }

        var models = files.Where(f => f.Path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) || f.Path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)).ToArray();
        return models.Length == 1
            ? models[0]
            : throw RegistryException.Invalid(
                "ambiguous_model_file",
                $"{files.Count} files were uploaded; exactly one must be the model (.onnx or .gguf) and the rest its external data, " +
                $"but {models.Length} are named like a model file");
    }

    // A new file makes an earlier inspection stale: it may be the model's external data, or a second model.
    private void Added(ArtifactFile file)
    {
        _files.Add(file);
        _inspection = null;
    }

    /// <summary>The full path a file of this draft has (or will have) in the staging folder.</summary>
    public string PathOf(string fileName)
    {
        RegistryNames.ValidateFilePath(fileName);
        return Path.GetFullPath(Path.Combine(Folder, fileName));
    }

    private string PrepareTarget(string fileName)
    {
        var path = PathOf(fileName);
        if (_files.Any(f => string.Equals(f.Path, fileName, StringComparison.Ordinal)))
        {
            throw RegistryException.Invalid("duplicate_file", $"'{fileName}' was uploaded twice for the same version");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Finished ? ValueTask.CompletedTask : _abandon(this);
}
