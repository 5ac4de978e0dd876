using System.Net;
using System.Net.Sockets;

namespace Maas.Cli.Tests.Support;

/// <summary>
/// A TCP relay on 127.0.0.1 in front of a server that, once armed, resets the connection that carries the caller
/// past a number of bytes: a real broken connection in the middle of a request body, for both sides.
/// </summary>
public sealed class CuttingRelay : LoopbackRelay
{
    private long _budget = -1;
    private int _cuts;

    private CuttingRelay(IPEndPoint target)
        : base(target)
    {
    }

    /// <summary>How many connections were reset so far.</summary>
    public int Cuts => Volatile.Read(ref _cuts);

    /// <summary>Relays to the server at <paramref name="server"/> (an http://127.0.0.1:port address).</summary>
    public static CuttingRelay To(Uri server) => new(Loopback(server));

    /// <summary>Resets the connection on which the caller's bytes (counted over all connections from now) pass <paramref name="bytes"/>; once.</summary>
    public void CutAfter(long bytes)
    {
        lock (Gate)
        {
            _budget = bytes;
        }
    }

    /// <inheritdoc />
    protected override async Task RelayAsync(TcpClient caller)
    {
        using var server = new TcpClient();
        using var links = CancellationTokenSource.CreateLinkedTokenSource(Stopping);
        var wasCut = false;
        try
        {
            await server.ConnectAsync(Target, links.Token);
            var upstream = PumpAsync(caller.GetStream(), server.GetStream(), counted: true, links);
            var downstream = PumpAsync(server.GetStream(), caller.GetStream(), counted: false, links);
            await Task.WhenAny(upstream, downstream);
            wasCut = upstream.IsCompletedSuccessfully && upstream.Result;
            await links.CancelAsync();
            await Task.WhenAll(upstream, downstream).ContinueWith(_ => { }, TaskScheduler.Default);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException)
        {
            // The connection ended one way or another; nothing to relay any more.
        }
        finally
        {
            if (wasCut)
            {
                // A reset, not an orderly close: the caller sees its request fail and the server a truncated body.
                caller.Client.LingerState = new LingerOption(true, 0);
                server.Client.LingerState = new LingerOption(true, 0);
            }

            caller.Dispose();
        }
    }

    // True when this pump cut the connection.
    private async Task<bool> PumpAsync(NetworkStream from, NetworkStream to, bool counted, CancellationTokenSource links)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var read = await from.ReadAsync(buffer, links.Token);
            if (read == 0)
            {
                return false;
            }

            var pass = read;
            var cut = false;
            if (counted)
            {
                lock (Gate)
                {
                    if (_budget >= 0)
                    {
                        pass = (int)Math.Min(read, _budget);
                        _budget -= pass;
                        cut = _budget == 0;
                        if (cut)
                        {
                            _budget = -1;
                            _cuts++;
                        }
                    }
                }
            }

            await to.WriteAsync(buffer.AsMemory(0, pass), links.Token);
            if (cut)
            {
                await to.FlushAsync(links.Token);
                return true;
            }
        }
    }
}
