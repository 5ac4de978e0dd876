using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Maas.Cli.Tests.Support;

/// <summary>
/// A TCP relay on 127.0.0.1 in front of a server that passes the server's answer up to the end of the first
/// Server-Sent Event carrying text (<c>"content":"x</c>) and holds the rest back until <see cref="Release"/>: a
/// stream that has only begun, so a test can see what a client shows of an answer that is not complete yet.
/// </summary>
public sealed class HoldingRelay : LoopbackRelay
{
    private static readonly byte[] Content = Encoding.UTF8.GetBytes("\"content\":\"");
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _held;

    private HoldingRelay(IPEndPoint target)
        : base(target)
    {
    }

    /// <summary>True once the relay holds back the rest of an answer (after its first text event).</summary>
    public bool Holding => Volatile.Read(ref _held) == 1 && !_released.Task.IsCompleted;

    /// <summary>Relays to the server at <paramref name="server"/> (an http://127.0.0.1:port address).</summary>
    public static HoldingRelay To(Uri server) => new(Loopback(server));

    /// <summary>Lets the held-back rest through (and everything after it).</summary>
    public void Release() => _released.TrySetResult();

    /// <inheritdoc />
    protected override void OnDisposing() => Release();

    /// <inheritdoc />
    protected override async Task RelayAsync(TcpClient caller)
    {
        using var server = new TcpClient();
        using var links = CancellationTokenSource.CreateLinkedTokenSource(Stopping);
        try
        {
            await server.ConnectAsync(Target, links.Token);
            var upstream = PumpAsync(caller.GetStream(), server.GetStream(), hold: false, links.Token);
            var downstream = PumpAsync(server.GetStream(), caller.GetStream(), hold: true, links.Token);
            await Task.WhenAny(upstream, downstream);
            await links.CancelAsync();
            await Task.WhenAll(upstream, downstream).ContinueWith(_ => { }, TaskScheduler.Default);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException)
        {
            // The connection ended one way or another; nothing to relay any more.
        }
        finally
        {
            caller.Dispose();
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, bool hold, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        // What came from the server so far, while looking for the first text event (bytes may split a marker).
        var seen = new List<byte>();
        while (true)
        {
            var read = await from.ReadAsync(buffer, ct);
            if (read == 0)
            {
                return;
            }

            var piece = buffer.AsMemory(0, read);
            if (hold && Volatile.Read(ref _held) == 0)
            {
                var start = seen.Count;
                seen.AddRange(piece.Span);
                var end = EndOfFirstTextEvent(seen);
                if (end >= 0)
                {
                    Volatile.Write(ref _held, 1);
                    var now = end - start; // bytes of this piece up to the end of that event
                    await to.WriteAsync(piece[..now], ct);
                    await to.FlushAsync(ct);
                    await _released.Task.WaitAsync(ct);
                    piece = piece[now..];
                }
            }

            await to.WriteAsync(piece, ct);
        }
    }

    // The index just past the "\n\n" that ends the first event with non-empty text, or -1.
    private static int EndOfFirstTextEvent(List<byte> bytes)
    {
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes);
        var from = 0;
        while (true)
        {
            var at = span[from..].IndexOf(Content);
            if (at < 0)
            {
                return -1;
            }

            var value = from + at + Content.Length;
            if (value >= span.Length)
            {
                return -1;
            }

            if (span[value] != (byte)'"')
            {
                var end = span[value..].IndexOf(EventEnd);
                return end < 0 ? -1 : value + end + EventEnd.Length;
            }

            from = value;
        }
    }
}
