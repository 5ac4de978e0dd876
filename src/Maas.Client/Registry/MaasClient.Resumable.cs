using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Maas.Client.Registry;

namespace Maas.Client;

/// <summary>The resumable upload protocol shared by model files and dataset files: chunks at offsets, retried from where the server is.</summary>
public sealed partial class MaasClient
{
    private static void CheckChunkSize(ResumableUploadOptions resumable)
    {
        if (resumable.ChunkBytes <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(resumable), "ChunkBytes must be positive");
        }
    }

    // PATCH with Upload-Offset; the answer's Upload-Offset is where the next chunk starts.
    private async Task<long> PatchChunkAsync(string route, long offset, ReadOnlyMemory<byte> chunk, CancellationToken cancellationToken)
    {
        using var body = new ReadOnlyMemoryContent(chunk);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/offset+octet-stream");
        using var request = new HttpRequestMessage(HttpMethod.Patch, route) { Content = body };
        request.Headers.Add("Upload-Offset", offset.ToString(CultureInfo.InvariantCulture));
        using var response = await SendRawAsync(request, cancellationToken);
        return response.Headers.TryGetValues("Upload-Offset", out var values) && long.TryParse(values.FirstOrDefault(), CultureInfo.InvariantCulture, out var next)
            ? next
            : offset + chunk.Length;
    }

    // Sends the file from the offset the server holds to its end, a chunk at a time, reporting the bytes the server has.
    private static async Task SendFileInChunksAsync(
        FileStream file,
        long offset,
        ResumableUploadOptions resumable,
        Func<long, ReadOnlyMemory<byte>, Task<long>> send,
        Func<Task<long>> heldOffset,
        IProgress<long>? progress,
        CancellationToken cancellationToken)
    {
        progress?.Report(offset);
        var buffer = new byte[(int)Math.Min(resumable.ChunkBytes, Math.Max(1, file.Length))];
        while (offset < file.Length)
        {
            file.Position = offset;
            var read = await file.ReadAtLeastAsync(buffer, (int)Math.Min(buffer.Length, file.Length - offset), throwOnEndOfStream: true, cancellationToken);
            offset = await SendChunkWithRetriesAsync(offset, buffer.AsMemory(0, read), send, heldOffset, resumable.MaxAttempts, cancellationToken);
            progress?.Report(offset);
        }
    }

    private static async Task<long> SendChunkWithRetriesAsync(
        long offset, ReadOnlyMemory<byte> chunk, Func<long, ReadOnlyMemory<byte>, Task<long>> send, Func<Task<long>> heldOffset, int maxAttempts,
        CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await send(offset, chunk);
            }
            catch (Exception e) when (attempt < maxAttempts && IsTransient(e, cancellationToken))
            {
                // Some bytes may have arrived before the break: the caller goes on from where the server is.
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), cancellationToken);
                var held = await heldOffset();
                if (held != offset)
                {
                    return held;
                }
            }
        }
    }

    // upload_busy: the server is still receiving (or noticing the end of) the chunk a broken connection cut.
    private static bool IsTransient(Exception e, CancellationToken cancellationToken) => e switch
    {
        HttpRequestException or IOException => true,
        TaskCanceledException => !cancellationToken.IsCancellationRequested,
        MaasApiException api => api.Code is "offset_mismatch" or "upload_busy" ||
            api.Status is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout,
        _ => false,
    };
}
