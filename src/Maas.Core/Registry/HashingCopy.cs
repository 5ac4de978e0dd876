using System.Buffers;
using System.Security.Cryptography;

namespace Maas.Core.Registry;

/// <summary>Streams bytes into a file while hashing and counting them, with a size limit checked as they arrive.</summary>
public static class HashingCopy
{
    /// <summary>The copy buffer: big enough for disk throughput, small enough to keep memory flat.</summary>
    public const int BufferSize = 1 << 20;

    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="destination"/> and feeds every byte to <paramref name="hash"/>.
    /// Throws upload_too_large as soon as more than <paramref name="limit"/> bytes have arrived, naming
    /// <paramref name="reportedLimit"/> (the configured limit, when <paramref name="limit"/> is what is left of it).
    /// <paramref name="beforeWrite"/>, when given, is awaited with the bytes that arrived so far before they are written
    /// (a storage reservation grows there, and refuses by throwing).
    /// </summary>
    /// <returns>The number of bytes copied.</returns>
    public static async Task<long> CopyAsync(
        Stream source,
        Stream destination,
        IncrementalHash? hash,
        long limit,
        Action<long>? progress,
        CancellationToken cancellationToken,
        long? reportedLimit = null,
        Func<long, CancellationToken, ValueTask>? beforeWrite = null)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            long total = 0;
            while (true)
            {
                var read = await source.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return total;
                }

                total += read;
                if (total > limit)
                {
                    throw TooLarge(reportedLimit ?? limit);
                }

                if (beforeWrite is not null)
                {
                    await beforeWrite(total, cancellationToken).ConfigureAwait(false);
                }

                hash?.AppendData(buffer, 0, read);
                await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                progress?.Invoke(total);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The SHA-256 of a file, lowercase hex.</summary>
    public static async Task<string> HashFileAsync(string path, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await CopyAsync(file, Stream.Null, hash, long.MaxValue, null, cancellationToken).ConfigureAwait(false);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>The error for an upload over the configured limit; its details carry the limit.</summary>
    public static RegistryException TooLarge(long limit) => new(
        RegistryErrorKind.TooLarge,
        "upload_too_large",
        $"the upload is larger than the limit of {limit} bytes (setting {RegistryOptions.Section}:MaxUploadBytes)",
        new Dictionary<string, object?> { ["limit_bytes"] = limit });
}
