using System.Net;
using System.Net.Sockets;

namespace Maas.Cli.Tests.Support;

/// <summary>
/// A TCP relay on 127.0.0.1 in front of a server: it accepts callers, and each relay decides what to do with a caller's
/// connection (<see cref="RelayAsync"/>); disposing it stops accepting and waits for the connections to end.
/// </summary>
public abstract class LoopbackRelay : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;

    /// <summary>Starts listening and accepting callers for the server at <paramref name="target"/>.</summary>
    protected LoopbackRelay(IPEndPoint target)
    {
        Target = target;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Address = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
        _accepting = AcceptAsync();
    }

    /// <summary>Where callers connect.</summary>
    public Uri Address { get; }

    /// <summary>The server relayed to.</summary>
    protected IPEndPoint Target { get; }

    /// <summary>Guards the connection list and the relays' own state.</summary>
    protected Lock Gate { get; } = new();

    /// <summary>Cancelled when the relay is disposed.</summary>
    protected CancellationToken Stopping => _stop.Token;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        OnDisposing();
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting.ContinueWith(_ => { }, TaskScheduler.Default);
        Task[] open;
        lock (Gate)
        {
            open = [.. _connections];
        }

        await Task.WhenAll(open).ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>The server for <paramref name="server"/> (an http://127.0.0.1:port address) as an endpoint.</summary>
    protected static IPEndPoint Loopback(Uri server) => new(IPAddress.Loopback, server.Port);

    /// <summary>Called first when the relay is disposed (e.g. to let held connections go).</summary>
    protected virtual void OnDisposing()
    {
    }

    /// <summary>Relays one caller's connection until it ends; owns <paramref name="caller"/>.</summary>
    protected abstract Task RelayAsync(TcpClient caller);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient caller;
            try
            {
                caller = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            lock (Gate)
            {
                _connections.Add(RelayAsync(caller));
            }
        }
    }
}
