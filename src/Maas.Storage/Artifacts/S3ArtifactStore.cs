using System.Net;
using System.Runtime.CompilerServices;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Maas.Core.Registry;

namespace Maas.Storage.Artifacts;

/// <summary>
/// Artifacts in an S3-compatible bucket: <c>{prefix}{key}</c> for a one-file artifact, <c>{prefix}{key}/{file}</c>
/// for the files of a bundle plus a <c>{prefix}{key}/.complete</c> marker written last. Engines load from a verified
/// local copy under the cache folder.
/// </summary>
public sealed class S3ArtifactStore : IArtifactStore, IDisposable
{
    private const string BundleMarker = ".complete";

    private readonly AmazonS3Client _client;
    private readonly S3StoreOptions _options;
    private readonly string _cache;

    /// <summary>Connects to the bucket; <paramref name="cacheFolder"/> holds local copies for engines.</summary>
    public S3ArtifactStore(S3StoreOptions options, string cacheFolder)
    {
        _options = options;
        var config = new AmazonS3Config
        {
            ForcePathStyle = options.ForcePathStyle,
            AuthenticationRegion = options.Region,
            // Flexible checksums (CRC trailers) are newer than many S3-compatible servers; content is checked by SHA-256 anyway.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (!string.IsNullOrEmpty(options.ServiceUrl))
        {
            config.ServiceURL = options.ServiceUrl;
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(options.Region);
        }

        _client = string.IsNullOrEmpty(options.AccessKey)
            ? new AmazonS3Client(config)
            : new AmazonS3Client(new BasicAWSCredentials(options.AccessKey, options.SecretKey ?? ""), config);
        _cache = Path.GetFullPath(cacheFolder);
        Directory.CreateDirectory(Path.Combine(_cache, ".tmp"));

        // The earlier cache layout kept one-file artifacts as files side by side: drop them, they download again.
        foreach (var cached in Directory.EnumerateFiles(_cache))
        {
            if (ArtifactKeys.IsValid(Path.GetFileName(cached)))
            {
                StagingArea.DeleteQuietly(cached);
            }
        }
    }

    /// <inheritdoc />
    public string Kind => "s3";

    private string ObjectKey(string key, string? file = null)
    {
        if (!ArtifactKeys.IsValid(key))
        {
            throw new ArgumentException($"'{key}' is not an artifact key", nameof(key));
        }

        return file is null ? _options.Prefix + key : $"{_options.Prefix}{key}/{file}";
    }

    /// <inheritdoc />
    public async Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) =>
        await ObjectExistsAsync(ObjectKey(key), cancellationToken).ConfigureAwait(false)
        || await ObjectExistsAsync(ObjectKey(key, BundleMarker), cancellationToken).ConfigureAwait(false);

    private async Task<bool> ObjectExistsAsync(string objectKey, CancellationToken cancellationToken)
    {
        try
        {
            await _client.GetObjectMetadataAsync(_options.Bucket, objectKey, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public async Task CommitAsync(string key, string stagedPath, bool bundle, CancellationToken cancellationToken)
    {
        if (await ExistsAsync(key, cancellationToken).ConfigureAwait(false))
        {
            StagingArea.DeleteQuietly(stagedPath);
            return;
        }

        if (bundle)
        {
            foreach (var file in Directory.EnumerateFiles(stagedPath, "*", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(stagedPath, file).Replace('\\', '/');
                await UploadFileAsync(ObjectKey(key, relative), file, cancellationToken).ConfigureAwait(false);
            }

            // The marker last: a bundle without it is a crash leftover, and the orphan sweep removes it.
            await _client.PutObjectAsync(new PutObjectRequest { BucketName = _options.Bucket, Key = ObjectKey(key, BundleMarker), ContentBody = "" }, cancellationToken)
                .ConfigureAwait(false);
        }
        else
        {
            // One PUT (or one completed multipart upload) is atomic in S3: the object appears whole or not at all.
            await UploadFileAsync(ObjectKey(key), stagedPath, cancellationToken).ConfigureAwait(false);
        }

        StagingArea.DeleteQuietly(stagedPath);
    }

    // Plain (not aws-chunked) bodies: S3-compatible servers that do not know the chunked signing scheme would otherwise
    // store its framing as content. Big files go as a multipart upload of fixed-size parts read from the file.
    private async Task UploadFileAsync(string objectKey, string path, CancellationToken cancellationToken)
    {
        var length = new FileInfo(path).Length;
        if (length <= _options.PartSizeBytes)
        {
            await _client.PutObjectAsync(
                new PutObjectRequest { BucketName = _options.Bucket, Key = objectKey, FilePath = path, UseChunkEncoding = false },
                cancellationToken).ConfigureAwait(false);
            return;
        }

        var started = await _client.InitiateMultipartUploadAsync(
            new InitiateMultipartUploadRequest { BucketName = _options.Bucket, Key = objectKey }, cancellationToken).ConfigureAwait(false);
        try
        {
            var parts = new List<PartETag>();
            for (long position = 0, number = 1; position < length; position += _options.PartSizeBytes, number++)
            {
                var part = await _client.UploadPartAsync(
                    new UploadPartRequest
                    {
                        BucketName = _options.Bucket,
                        Key = objectKey,
                        UploadId = started.UploadId,
                        PartNumber = (int)number,
                        FilePath = path,
                        FilePosition = position,
                        PartSize = Math.Min(_options.PartSizeBytes, length - position),
                        UseChunkEncoding = false,
                    },
                    cancellationToken).ConfigureAwait(false);
                parts.Add(new PartETag((int)number, part.ETag));
            }

            await _client.CompleteMultipartUploadAsync(
                new CompleteMultipartUploadRequest { BucketName = _options.Bucket, Key = objectKey, UploadId = started.UploadId, PartETags = parts },
                cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await _client.AbortMultipartUploadAsync(_options.Bucket, objectKey, started.UploadId, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    public async Task<ArtifactContent> OpenAsync(string key, string? file, CancellationToken cancellationToken)
    {
        try
        {
            var response = await _client.GetObjectAsync(_options.Bucket, ObjectKey(key, file), cancellationToken).ConfigureAwait(false);
            return new ArtifactContent(new ResponseStream(response), response.ContentLength, null);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            throw new FileNotFoundException($"artifact {key}{(file is null ? "" : "/" + file)} is not in bucket {_options.Bucket}", e);
        }
    }

    /// <inheritdoc />
    public async Task<string> GetLocalPathAsync(string key, string? file, CancellationToken cancellationToken)
    {
        // Each artifact gets a folder of its own (a one-file artifact's file is named by its key), so a model's
        // external data paths can only reach its own files.
        var local = Path.Combine(_cache, key);
        if (file is null)
        {
            var single = Path.Combine(local, key);
            if (!File.Exists(single))
            {
                var temporary = TemporaryEntries.NewPath(Path.Combine(_cache, ".tmp"));
                Directory.CreateDirectory(temporary);
                var downloaded = Path.Combine(temporary, key);
                await DownloadAsync(ObjectKey(key), downloaded, cancellationToken).ConfigureAwait(false);
                var sha = await HashingCopy.HashFileAsync(downloaded, cancellationToken).ConfigureAwait(false);
                if (sha != key)
                {
                    StagingArea.DeleteQuietly(temporary);
                    throw new InvalidDataException($"artifact {key} in bucket {_options.Bucket} has SHA-256 {sha}: the stored object is corrupt");
                }

                MoveIntoPlace(temporary, local, directory: true);
            }

            return single;
        }

        if (!Directory.Exists(local))
        {
            var temporary = TemporaryEntries.NewPath(Path.Combine(_cache, ".tmp"));
            var prefix = ObjectKey(key) + "/";
            var any = false;
            await foreach (var objectKey in ListAsync(prefix, cancellationToken).ConfigureAwait(false))
            {
                var relative = objectKey[prefix.Length..];
                if (relative == BundleMarker || !RegistryNames.IsValidFilePath(relative))
                {
                    continue;
                }

                any = true;
                var target = Path.Combine(temporary, relative);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                await DownloadAsync(objectKey, target, cancellationToken).ConfigureAwait(false);
            }

            if (!any)
            {
                throw new FileNotFoundException($"artifact {key} is not in bucket {_options.Bucket}");
            }

            MoveIntoPlace(temporary, local, directory: true);
        }

        var path = Path.Combine(local, file);
        return File.Exists(path) ? path : throw new FileNotFoundException($"artifact {key} has no file '{file}'");
    }

    private static void MoveIntoPlace(string temporary, string local, bool directory)
    {
        try
        {
            if (directory)
            {
                Directory.Move(temporary, local);
            }
            else
            {
                File.Move(temporary, local);
            }
        }
        catch (IOException) when (File.Exists(local) || Directory.Exists(local))
        {
            StagingArea.DeleteQuietly(temporary); // A concurrent caller cached it first.
        }
    }

    private async Task DownloadAsync(string objectKey, string target, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _client.GetObjectAsync(_options.Bucket, objectKey, cancellationToken).ConfigureAwait(false);
            await using var file = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            await response.ResponseStream.CopyToAsync(file, HashingCopy.BufferSize, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            throw new FileNotFoundException($"object {objectKey} is not in bucket {_options.Bucket}", e);
        }
    }

    /// <inheritdoc />
    public async Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        // The marker first, so a bundle stops counting as present before its files go.
        await _client.DeleteObjectAsync(_options.Bucket, ObjectKey(key, BundleMarker), cancellationToken).ConfigureAwait(false);
        await _client.DeleteObjectAsync(_options.Bucket, ObjectKey(key), cancellationToken).ConfigureAwait(false);
        await foreach (var objectKey in ListAsync(ObjectKey(key) + "/", cancellationToken).ConfigureAwait(false))
        {
            await _client.DeleteObjectAsync(_options.Bucket, objectKey, cancellationToken).ConfigureAwait(false);
        }

        StagingArea.DeleteQuietly(Path.Combine(_cache, key));
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<string> ListKeysAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var objectKey in ListAsync(_options.Prefix, cancellationToken).ConfigureAwait(false))
        {
            var rest = objectKey[_options.Prefix.Length..];
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            var key = slash < 0 ? rest : rest[..slash];
            if (ArtifactKeys.IsValid(key) && seen.Add(key))
            {
                yield return key;
            }
        }
    }

    private async IAsyncEnumerable<string> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = prefix };
        while (true)
        {
            var response = await _client.ListObjectsV2Async(request, cancellationToken).ConfigureAwait(false);
            foreach (var item in response.S3Objects ?? [])
            {
                yield return item.Key;
            }

            if (response.IsTruncated != true || string.IsNullOrEmpty(response.NextContinuationToken))
            {
                yield break;
            }

            request.ContinuationToken = response.NextContinuationToken;
        }
    }

    /// <inheritdoc />
    public async Task<int> RemoveTemporaryAsync(DateTimeOffset startedBefore, CancellationToken cancellationToken)
    {
        var removed = TemporaryEntries.RemoveOlder(Path.Combine(_cache, ".tmp"), startedBefore);

        try
        {
            // Multipart uploads a crash left open hold storage until aborted.
            var uploads = await _client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = _options.Bucket, Prefix = _options.Prefix }, cancellationToken)
                .ConfigureAwait(false);
            // Only those begun before the cut-off: a younger one may be another process's commit under way.
            foreach (var upload in (uploads.MultipartUploads ?? []).Where(
                u => u.Initiated is not { } initiated || new DateTimeOffset(initiated.ToUniversalTime(), TimeSpan.Zero) < startedBefore))
            {
                await _client.AbortMultipartUploadAsync(_options.Bucket, upload.Key, upload.UploadId, cancellationToken).ConfigureAwait(false);
                removed++;
            }
        }
        catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.NotImplemented or HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotFound)
        {
            // Some S3-compatible servers do not list multipart uploads; nothing to abort then.
        }

        return removed;
    }

    /// <inheritdoc />
    public void Dispose() => _client.Dispose();

    // Disposes the GetObject response (and its connection) together with the stream a caller reads.
    private sealed class ResponseStream(GetObjectResponse response) : Stream
    {
        private readonly Stream _inner = response.ResponseStream;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => response.ContentLength;

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _inner.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            _inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                response.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
