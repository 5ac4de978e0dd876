using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using Maas.Core.Jobs;

namespace Maas.Core.Registry.Import;

/// <summary>
/// Imports a version from an http(s) or hf:// URL as a background job: downloads with resume (HTTP Range) after
/// broken connections, reports progress, checks the SHA-256 the caller or the source gives, then commits.
/// </summary>
public sealed class ModelImporter
{
    private const int MaxRedirects = 10;

    private readonly IModelRegistry _registry;
    private readonly JobRunner _jobs;
    private readonly HttpClient _http;
    private readonly RegistryOptions _options;
    private readonly ImportNetworkPolicy _policy;
    private int _unfinished;

    /// <summary>
    /// Creates the importer; <paramref name="http"/> must not follow redirects itself (the importer does, to read
    /// checksum headers on the way) and should connect through <see cref="ImportNetworkPolicy.ConnectAsync"/>.
    /// </summary>
    public ModelImporter(IModelRegistry registry, JobRunner jobs, HttpClient http, RegistryOptions options, ImportNetworkPolicy policy)
    {
        _registry = registry;
        _jobs = jobs;
        _http = http;
        _options = options;
        _policy = policy;
    }

    /// <summary>The job kind of imports.</summary>
    public const string JobKind = "import";

    /// <summary>
    /// Checks the request, reserves the version number (so a taken number fails now, with 409) and starts the job.
    /// </summary>
    public async Task<Job> StartAsync(string model, ImportRequest request, CancellationToken cancellationToken)
    {
        var source = ImportSource.Resolve(request.Url, _options);
        if (Volatile.Read(ref _unfinished) >= _options.MaxQueuedImports)
        {
            throw QueueFull();
        }

        // What the request itself gets wrong first: a bad checksum or file name used to be answered as a host that
        // cannot be resolved when the name lookup failed too.
        var fileName = request.FileName ?? source.SuggestedFileName;
        if (string.IsNullOrEmpty(request.FileName) && !RegistryNames.IsValidFilePath(fileName))
        {
            throw RegistryException.Invalid("invalid_filename", $"no usable file name in '{RegistryNames.Shorten(request.Url)}': give one in 'filename'");
        }

        RegistryNames.ValidateFilePath(fileName);
        var expected = ModelRegistry.NormalizeSha256(request.Sha256);
        try
        {
            // Refused now with 400 rather than as a failed job; the connection checks again (redirects, DNS changes).
            await _policy.CheckAsync(source.Url, cancellationToken).ConfigureAwait(false);
        }
        catch (ImportBlockedException e)
        {
            throw RegistryException.Invalid("import_source_not_allowed", e.Message);
        }
        catch (SocketException e)
        {
            throw RegistryException.Invalid("invalid_url", $"the host of '{RegistryNames.Shorten(request.Url)}' cannot be resolved: {e.Message}");
        }

        // Counted from here to the job's end: checked again now that the slot is taken, so a burst cannot overshoot.
        if (Interlocked.Increment(ref _unfinished) > _options.MaxQueuedImports)
        {
            Interlocked.Decrement(ref _unfinished);
            throw QueueFull();
        }

        VersionDraft draft;
        try
        {
            draft = await _registry.BeginVersionAsync(model, request.Options, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Interlocked.Decrement(ref _unfinished);
            throw;
        }

        // Released once, as soon as the work ends (before the job shows as finished) or at the latest in the clean-up.
        var released = 0;
        void Release()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
            {
                Interlocked.Decrement(ref _unfinished);
            }
        }

        try
        {
            return await _jobs.StartAsync(
                JobKind,
                draft.Model.Key,
                draft.Version,
                draft.Model.Owner,
                request.Options.CreatedBy,
                async context =>
                {
                    try
                    {
                        return await RunWithDeadlineAsync(context, draft, source, fileName, expected).ConfigureAwait(false);
                    }
                    finally
                    {
                        Release();
                    }
                },
                async () =>
                {
                    Release();
                    await draft.DisposeAsync().ConfigureAwait(false);
                }).ConfigureAwait(false);
        }
        catch
        {
            Release();
            await draft.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Tests only: awaited at each <see cref="ImportStep"/> of every import's commit, so a test can hold one import
    /// right before or right after its point of no return (the cancellation token fires once a cancel is recorded).
    /// </summary>
    internal Func<ImportCheckpoint, Task>? Checkpoint { get; set; }

    private Task CheckpointAsync(VersionDraft draft, ImportStep step, JobContext context) =>
        Checkpoint is { } checkpoint ? checkpoint(new ImportCheckpoint(draft.Model.Name, draft.Version, step, context.CancellationToken)) : Task.CompletedTask;

    /// <summary>Imports queued or running now.</summary>
    public int Unfinished => Volatile.Read(ref _unfinished);

    private RegistryException QueueFull() => new(
        RegistryErrorKind.Busy,
        "import_queue_full",
        $"{_options.MaxQueuedImports} imports are already queued or running (Maas:Registry:MaxQueuedImports); retry when one has finished",
        new Dictionary<string, object?> { ["limit"] = _options.MaxQueuedImports, ["retry_after_seconds"] = 30 });

    // The whole import, however its source behaves (slow drip, endless retries), ends by its deadline.
    private async Task<IReadOnlyDictionary<string, object?>> RunWithDeadlineAsync(JobContext context, VersionDraft draft, ImportSource source, string fileName, string? expected)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(_options.ImportTimeoutSeconds));
        try
        {
            return await RunAsync(context, deadline.Token, draft, source, fileName, expected).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not JobFailedException && deadline.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw new JobFailedException(
                "import_timeout",
                $"the import did not finish within {_options.ImportTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)} seconds " +
                $"(Maas:Registry:ImportTimeoutSeconds)",
                e);
        }
    }

    private async Task<IReadOnlyDictionary<string, object?>> RunAsync(JobContext context, CancellationToken token, VersionDraft draft, ImportSource source, string fileName,
        string? expected)
    {
        // The stages set the percent the job shows (ImportProgress): the download fills it to 90, the checks and the
        // commit take the rest, so an import whose file is refused never shows 100.
        context.ReportStage(ImportProgress.Downloading);
        var path = draft.PathOf(fileName);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var download = await DownloadAsync(context, token, source, path, draft, draft.OverLimit).ConfigureAwait(false);

        context.ReportStage(ImportProgress.Validating);
        var want = expected ?? download.SourceSha256;
        if (want is not null && want != download.Sha256)
        {
            var mismatch = ModelRegistry.ChecksumMismatch(fileName, want, download.Sha256);
            throw new JobFailedException(mismatch.Code, mismatch.Message + (expected is null ? " (as the source's own checksum header says)" : ""));
        }

        try
        {
            await draft.AddStagedFileAsync(fileName, path, download.Sha256, token).ConfigureAwait(false);

            // The checks an upload's commit runs (ONNX or GGUF, read and validated; the version's options, whose
            // derived_from may name a version deleted during the download), here before the point of no return: a
            // file that is not a usable model or a lineage gone fails in this stage with the upload's code and message,
            // and a cancel (or the deadline) stops the check within one buffer of a large file. The commit reuses them.
            await CheckpointAsync(draft, ImportStep.Checking, context).ConfigureAwait(false);
            draft.Inspect(token);
            await draft.CheckOptionsAsync(token).ConfigureAwait(false);
            await CheckpointAsync(draft, ImportStep.BeforeFinishing, context).ConfigureAwait(false);

            // The point of no return: a cancel recorded before it stops the import here (nothing registered, the
            // staged file removed with the draft); from here on a cancel is refused, and the commit is not cancelled
            // by the import's deadline either (only by the server's stop), so a refused cancel's promise holds.
            context.BeginFinishing();
            context.ReportStage(ImportProgress.Registering);
            await CheckpointAsync(draft, ImportStep.Finishing, context).ConfigureAwait(false);
            var version = await _registry.CommitVersionAsync(draft, context.CancellationToken).ConfigureAwait(false);
            await CheckpointAsync(draft, ImportStep.Committed, context).ConfigureAwait(false);
            return new Dictionary<string, object?>
            {
                ["model"] = version.Model,
                ["version"] = version.Version,
                ["sha256"] = version.Sha256,
                ["size_bytes"] = version.SizeBytes,
                ["format"] = version.Format.ToString().ToLowerInvariant(),
                ["checksum_verified"] = want is not null,
            };
        }
        catch (RegistryException e)
        {
            throw new JobFailedException(e.Code, e.Message, e);
        }
    }

    private sealed record Downloaded(string Sha256, string? SourceSha256);

    // The bytes count against the tenant's storage quota as they arrive (the draft's reservation): the size the source
    // declares at once, otherwise what has arrived. A failed attempt resumes where it stopped (a Range request).
    private async Task<Downloaded> DownloadAsync(JobContext context, CancellationToken token, ImportSource source, string path, VersionDraft draft,
        Func<RegistryException> overLimit)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1, FileOptions.None);
        var download = new Download(this, context, source, draft, overLimit, hash, file, token);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await download.AttemptAsync(attempt).ConfigureAwait(false);
                    break;
                }
                catch (Exception e) when (Blocked(e) is { } blocked)
                {
                    throw new JobFailedException("import_source_not_allowed", blocked.Message, e);
                }
                catch (Exception e) when (e is HttpRequestException or IOException && !token.IsCancellationRequested)
                {
                    if (attempt >= _options.ImportMaxAttempts)
                    {
                        throw new JobFailedException("download_failed", $"download of {source.Url.GetLeftPart(UriPartial.Path)} failed after {attempt} attempts: {e.Message}", e);
                    }

                    context.ReportStage($"resuming at byte {download.Done} (attempt {attempt + 1} of {_options.ImportMaxAttempts})");
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(10_000, 250 * (1 << Math.Min(attempt, 6)))), token).ConfigureAwait(false);
                }
            }

            if (_options.FsyncUploads)
            {
                file.Flush(flushToDisk: true);
            }

            context.ReportProgress(download.Done, download.Done);
            return new Downloaded(Convert.ToHexStringLower(hash.GetHashAndReset()), download.SourceSha256);
        }
        finally
        {
            download.Dispose();
        }
    }

    // One download's state across its attempts: what has arrived (hashed and written), the size the source declared.
    private sealed class Download(
        ModelImporter importer, JobContext context, ImportSource source, VersionDraft draft, Func<RegistryException> overLimit, IncrementalHash hash, FileStream file,
        CancellationToken token)
        : IDisposable
    {
        private readonly byte[] _buffer = ArrayPool<byte>.Shared.Rent(HashingCopy.BufferSize);
        private readonly long _limit = draft.Limit;
        private long? _total;

        public long Done { get; private set; }

        public string? SourceSha256 { get; private set; }

        public void Dispose() => ArrayPool<byte>.Shared.Return(_buffer);

        // One GET from where the last attempt stopped; returns once every byte is in, throws IOException to be retried.
        public async Task AttemptAsync(int attempt)
        {
            using var response = await importer.SendAsync(source, Done, token).ConfigureAwait(false);
            SourceSha256 ??= response.SourceSha256;
            var message = response.Message;
            if (Done > 0 && message.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && _total == Done)
            {
                return; // We already had every byte.
            }

            if (!message.IsSuccessStatusCode)
            {
                var code = (int)message.StatusCode;
                var transient = code is 408 or 429 or >= 500;
                var error = new JobFailedException("source_error", $"GET {source.Url.GetLeftPart(UriPartial.Path)} answered {code} {message.ReasonPhrase}");
                if (!transient || attempt >= importer._options.ImportMaxAttempts)
                {
                    throw error;
                }

                throw new IOException(error.Message);
            }

            var partial = message.StatusCode == HttpStatusCode.PartialContent;
            if (Done > 0 && (!partial || message.Content.Headers.ContentRange?.From != Done))
            {
                // The source ignored the Range: start over rather than append the wrong bytes.
                Done = 0;
                hash.GetHashAndReset();
                file.SetLength(0);
            }

            _total = partial && message.Content.Headers.ContentRange?.Length is { } full
                ? full
                : message.Content.Headers.ContentLength is { } length ? Done + length : _total;
            if (_total > _limit)
            {
                var tooLarge = overLimit();
                throw new JobFailedException(tooLarge.Code, tooLarge.Message);
            }

            if (_total is { } declaredTotal)
            {
                await HoldAsync(declaredTotal, declared: true).ConfigureAwait(false);
            }

            file.Seek(Done, SeekOrigin.Begin);
            context.ReportProgress(Done, _total);
            await using var body = await message.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
            await CopyAsync(body).ConfigureAwait(false);
            if (_total is { } expectedTotal && Done < expectedTotal)
            {
                throw new IOException($"the connection closed after {Done} of {expectedTotal} bytes");
            }
        }

        // The body into the file and the hash until it ends; a source silent for the stall timeout is an IOException.
        private async Task CopyAsync(Stream body)
        {
            var stallSeconds = importer._options.ImportStallTimeoutSeconds;
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(token);
            while (true)
            {
                stall.CancelAfter(TimeSpan.FromSeconds(stallSeconds));
                int read;
                try
                {
                    read = await body.ReadAsync(_buffer.AsMemory(0, HashingCopy.BufferSize), stall.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!token.IsCancellationRequested)
                {
                    throw new IOException($"no data for {stallSeconds} seconds");
                }

                if (read == 0)
                {
                    return;
                }

                if (Done + read > _limit)
                {
                    var tooLarge = overLimit();
                    throw new JobFailedException(tooLarge.Code, tooLarge.Message);
                }

                await HoldAsync(Done + read, declared: false).ConfigureAwait(false);
                hash.AppendData(_buffer, 0, read);
                await file.WriteAsync(_buffer.AsMemory(0, read), token).ConfigureAwait(false);
                Done += read;
                context.ReportProgress(Done, _total);
            }
        }

        private async Task HoldAsync(long bytes, bool declared)
        {
            try
            {
                await draft.Reservation.EnsureAsync(bytes, token, exact: declared).ConfigureAwait(false);
            }
            catch (RegistryException e)
            {
                throw new JobFailedException(e.Code, e.Message, e);
            }
        }
    }

    private static ImportBlockedException? Blocked(Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is ImportBlockedException blocked)
            {
                return blocked;
            }
        }

        return null;
    }

    private sealed class SentRequest(HttpResponseMessage message, string? sourceSha256) : IDisposable
    {
        public HttpResponseMessage Message { get; } = message;

        public string? SourceSha256 { get; } = sourceSha256;

        public void Dispose() => Message.Dispose();
    }

    // Follows redirects by hand: the hub puts the file's SHA-256 on the redirect (X-Linked-Etag), and the token must
    // not travel to another host (the CDN the hub redirects to).
    private async Task<SentRequest> SendAsync(ImportSource source, long offset, CancellationToken cancellationToken)
    {
        var url = source.Url;
        string? sha = null;
        for (var hop = 0; ; hop++)
        {
            _policy.CheckHost(url);
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (source.Token is not null && url.Host == source.Url.Host && url.Port == source.Url.Port && url.Scheme == source.Url.Scheme)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", source.Token);
            }

            if (offset > 0)
            {
                request.Headers.Range = new RangeHeaderValue(offset, null);
            }

            var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            sha ??= SourceChecksum.FromHeaders(response);
            var status = (int)response.StatusCode;
            if (status is 301 or 302 or 303 or 307 or 308 && response.Headers.Location is { } location)
            {
                response.Dispose();
                if (hop >= MaxRedirects)
                {
                    throw new JobFailedException("source_error", $"more than {MaxRedirects} redirects from {source.Url.GetLeftPart(UriPartial.Path)}");
                }

                url = location.IsAbsoluteUri ? location : new Uri(url, location);
                if (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)
                {
                    throw new JobFailedException("source_error", $"redirected to a non-http URL ({url.Scheme})");
                }

                continue;
            }

            return new SentRequest(response, sha);
        }
    }
}
