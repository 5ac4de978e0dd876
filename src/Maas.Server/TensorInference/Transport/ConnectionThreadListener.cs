using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Maas.Server.TensorInference.Transport;

/// <summary>Accepts connections for <see cref="ConnectionThreadTransportFactory"/> and starts each one's thread.</summary>
internal sealed class ConnectionThreadListener(Socket socket, MemoryPool<byte> pool, long readAheadBytes, ConnectionThreadCount threads) : IConnectionListener
{
    public EndPoint EndPoint { get; } = socket.LocalEndPoint!;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await socket.AcceptAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is ObjectDisposedException || (ex is SocketException s && s.SocketErrorCode == SocketError.OperationAborted))
            {
                return null; // unbound: Kestrel stops accepting
            }
            catch (SocketException)
            {
                continue; // a connection reset before it was accepted
            }

            accepted.NoDelay = true;
            var connection = new ConnectionThreadConnection(accepted, pool, readAheadBytes, threads);
            connection.Start();
            return connection;
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        socket.Dispose();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        socket.Dispose();
        pool.Dispose();
        return ValueTask.CompletedTask;
    }
}
