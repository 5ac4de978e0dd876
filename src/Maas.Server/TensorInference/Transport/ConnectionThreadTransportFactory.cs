using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;

namespace Maas.Server.TensorInference.Transport;

/// <summary>
/// A Kestrel transport that gives every TCP connection a thread of its own (<c>Maas:Inference:HttpTransport=threads</c>).
/// The thread waits for bytes itself (in poll) and runs Kestrel's HTTP layer and the request's handler inline up to
/// their first wait; responses are sent by the thread that flushes them, and only what the socket cannot take at once
/// is left to an asynchronous send. A large tensor body then costs a receive system call per block and nothing else: no
/// epoll wake-up, no thread-pool hand-off per block, no thread-pool spinning between them. The price is a thread per
/// open connection, so it suits servers with a bounded number of clients sending large bodies; Kestrel's
/// MaxConcurrentConnections bounds the threads. Endpoints other than IP ones stay on Kestrel's sockets.
/// </summary>
internal sealed class ConnectionThreadTransportFactory(IOptions<InferenceOptions> options, IEnumerable<IMemoryPoolFactory<byte>> pools)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly ConnectionThreadCount _threads = new();

    /// <summary>Connection threads of this server's listeners that are running (receiving or serving a connection).</summary>
    public int RunningThreads => _threads.Value;

    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint is IPEndPoint { Address: var address } && address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(endpoint);
            socket.Listen(512);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            socket.Dispose();
            throw new AddressInUseException(ex.Message, ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        // The listener's blocks: the receive block pool when one is configured (MaaS's factory is the last registered).
        var pool = pools.LastOrDefault()?.Create() ?? MemoryPool<byte>.Shared;
        var o = options.Value;
        return ValueTask.FromResult<IConnectionListener>(new ConnectionThreadListener(socket, pool, o.HttpReadAheadBytes, _threads));
    }
}
