using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Maas.Server.Tests.Support;

/// <summary>How the loopback file server treats one file: faults and headers that imports must cope with.</summary>
public sealed record ServedFile(byte[] Content)
{
    /// <summary>
    /// On the first request only, send this many body bytes and then nothing more (a dead connection, which the
    /// importer notices by its stall timeout). A reset would be less useful: it can discard bytes still in flight.
    /// </summary>
    public long? StallAfterBytesOnce { get; init; }

    /// <summary>A pause after every 64 KiB sent (a slow source, to watch progress).</summary>
    public TimeSpan ChunkDelay { get; init; }

    /// <summary>
    /// Awaited before each 64 KiB with the bytes sent so far (after flushing them): a test paces the download by
    /// what it has seen happen, instead of by delays.
    /// </summary>
    public Func<long, Task>? BeforeChunk { get; init; }

    /// <summary>Answer Range requests with the whole file (200), as some servers do.</summary>
    public bool IgnoreRange { get; init; }

    /// <summary>Refuse (401) unless "Authorization: Bearer {token}".</summary>
    public string? RequireBearer { get; init; }

    /// <summary>Answer 302 to this path (with <see cref="Headers"/>) instead of the content.</summary>
    public string? RedirectTo { get; init; }

    /// <summary>Answer with this status and no content.</summary>
    public int? Status { get; init; }

    /// <summary>Extra response headers (X-Linked-Etag, Digest, ...).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
}

/// <summary>One request the file server saw.</summary>
public sealed record SeenRequest(string Path, string? Range, string? Authorization);

/// <summary>
/// A small HTTP server on loopback that serves registered files with Range support and chosen faults: the
/// "outside" host of import tests (no outside host is reachable here).
/// </summary>
public sealed class LoopbackFileServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, ServedFile> _files = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _stalled = new(StringComparer.Ordinal);

    private LoopbackFileServer(WebApplication app)
    {
        _app = app;
    }

    /// <summary>Where it listens.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Every request, in order.</summary>
    public ConcurrentQueue<SeenRequest> Requests { get; } = new();

    /// <summary>Starts the server on a free loopback port.</summary>
    public static async Task<LoopbackFileServer> StartAsync()
    {
        LoopbackFileServer? server = null;
        var (app, address) = await LoopbackApp.StartAsync(app =>
        {
            server = new LoopbackFileServer(app);
            app.Run(server.ServeAsync);
        });
        server!.BaseAddress = address;
        return server;
    }

    /// <summary>Serves <paramref name="file"/> at <paramref name="path"/> (starting with '/').</summary>
    public Uri Add(string path, ServedFile file)
    {
        _files[path] = file;
        return new Uri(BaseAddress, path.TrimStart('/'));
    }

    private async Task ServeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        var range = context.Request.Headers.Range.ToString();
        var authorization = context.Request.Headers.Authorization.ToString();
        Requests.Enqueue(new SeenRequest(path, range.Length > 0 ? range : null, authorization.Length > 0 ? authorization : null));
        if (!_files.TryGetValue(path, out var file))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (file.RequireBearer is { } token && authorization != "Bearer " + token)
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }

        foreach (var (name, value) in file.Headers)
        {
            context.Response.Headers[name] = value;
        }

        if (file.RedirectTo is { } target)
        {
            context.Response.StatusCode = StatusCodes.Status302Found;
            context.Response.Headers.Location = target;
            return;
        }

        if (file.Status is { } status)
        {
            context.Response.StatusCode = status;
            return;
        }

        var content = file.Content;
        long start = 0;
        if (!file.IgnoreRange && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-')
            && long.TryParse(range["bytes=".Length..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var from))
        {
            if (from >= content.Length)
            {
                context.Response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
                context.Response.Headers.ContentRange = $"bytes */{content.Length}";
                return;
            }

            start = from;
            context.Response.StatusCode = StatusCodes.Status206PartialContent;
            context.Response.Headers.ContentRange = $"bytes {start}-{content.Length - 1}/{content.Length}";
        }

        context.Response.Headers.AcceptRanges = "bytes";
        context.Response.ContentLength = content.Length - start;
        var stallAt = file.StallAfterBytesOnce is { } stall && _stalled.TryAdd(path, true) ? stall : (long?)null;
        var position = start;
        while (position < content.Length)
        {
            var count = (int)Math.Min(64 * 1024, content.Length - position);
            if (stallAt is { } limit && position - start + count > limit)
            {
                count = (int)Math.Max(0, limit - (position - start));
                await context.Response.Body.WriteAsync(content.AsMemory((int)position, count));
                await context.Response.Body.FlushAsync();
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(60), context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    // The client gave up on us, as it should.
                }

                context.Abort();
                return;
            }

            if (file.BeforeChunk is { } gate && position > start)
            {
                await context.Response.Body.FlushAsync();
                await gate(position).WaitAsync(context.RequestAborted);
            }

            await context.Response.Body.WriteAsync(content.AsMemory((int)position, count));
            position += count;
            if (file.ChunkDelay > TimeSpan.Zero)
            {
                await context.Response.Body.FlushAsync();
                await Task.Delay(file.ChunkDelay, context.RequestAborted);
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
