using System.Net.Sockets;
using System.Text;

namespace Maas.Bench;

/// <summary>
/// A lean HTTP/1.1 keep-alive client for the load generator (one connection per simulated client, request bytes built
/// once): like wrk, it keeps the generator's own CPU use small, since it shares the cores with the server.
/// </summary>
internal sealed class RawHttpClient : IDisposable
{
    private readonly Uri _server;
    private readonly byte[] _request;
    private readonly Connection?[] _connections;
    private int _reported;

    public RawHttpClient(Uri server, string path, string contentType, byte[] body, IReadOnlyDictionary<string, string>? headers = null, int clients = 64)
    {
        _server = server;
        var head = new StringBuilder()
            .Append("POST ").Append(path).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(server.Authority).Append("\r\n")
            .Append("Content-Type: ").Append(contentType).Append("\r\n")
            .Append("Content-Length: ").Append(body.Length).Append("\r\n");
        foreach (var (k, v) in headers ?? new Dictionary<string, string>())
        {
            head.Append(k).Append(": ").Append(v).Append("\r\n");
        }

        var headBytes = Encoding.ASCII.GetBytes(head.Append("\r\n").ToString());
        _request = [.. headBytes, .. body];
        _connections = new Connection?[clients];
    }

    /// <summary>Sends the request on client <paramref name="client"/>'s connection; true when the answer is 200.</summary>
    public async Task<bool> CallAsync(int client, CancellationToken ct)
    {
        var connection = _connections[client] ??= await Connection.OpenAsync(_server, ct);
        try
        {
            var status = await connection.SendAsync(_request, ct);
            if (status != 200 && Interlocked.Exchange(ref _reported, 1) == 0)
            {
                Console.Error.WriteLine($"  (first failed call: HTTP {status})");
            }

            return status == 200;
        }
        catch (Exception ex) when (ex is SocketException or IOException or InvalidDataException)
        {
            if (Interlocked.Exchange(ref _reported, 1) == 0)
            {
                Console.Error.WriteLine($"  (first failed call: {ex.Message})");
            }

            _connections[client] = null;
            connection.Dispose();
            return false;
        }
    }

    public void Dispose()
    {
        foreach (var c in _connections)
        {
            c?.Dispose();
        }
    }

    private sealed class Connection(Socket socket) : IDisposable
    {
        private readonly byte[] _buffer = new byte[1 << 16];

        public static async Task<Connection> OpenAsync(Uri server, CancellationToken ct)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(server.Host, server.Port, ct);
            return new Connection(socket);
        }

        public async Task<int> SendAsync(byte[] request, CancellationToken ct)
        {
            await socket.SendAsync(request, SocketFlags.None, ct);

            // Read the head, then exactly Content-Length bytes of body.
            var filled = 0;
            int headEnd;
            while ((headEnd = IndexOfHeadEnd(_buffer.AsSpan(0, filled))) < 0)
            {
                if (filled == _buffer.Length)
                {
                    throw new InvalidDataException("response head too large");
                }

                var n = await socket.ReceiveAsync(_buffer.AsMemory(filled), SocketFlags.None, ct);
                if (n == 0)
                {
                    throw new InvalidDataException("connection closed");
                }

                filled += n;
            }

            var head = Encoding.ASCII.GetString(_buffer, 0, headEnd);
            var status = int.Parse(head.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture);
            var lengthAt = head.IndexOf("\r\ncontent-length:", StringComparison.OrdinalIgnoreCase);
            if (lengthAt < 0)
            {
                throw new InvalidDataException("response without Content-Length");
            }

            var valueStart = lengthAt + "\r\ncontent-length:".Length;
            var valueEnd = head.IndexOf('\r', valueStart);
            var length = long.Parse(head.AsSpan(valueStart, (valueEnd < 0 ? head.Length : valueEnd) - valueStart).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            var remaining = length - (filled - (headEnd + 4));
            while (remaining > 0)
            {
                var n = await socket.ReceiveAsync(_buffer.AsMemory(0, (int)Math.Min(_buffer.Length, remaining)), SocketFlags.None, ct);
                if (n == 0)
                {
                    throw new InvalidDataException("connection closed inside a body");
                }

                remaining -= n;
            }

            return status;
        }

        private static int IndexOfHeadEnd(ReadOnlySpan<byte> data) => data.IndexOf("\r\n\r\n"u8);

        public void Dispose() => socket.Dispose();
    }
}
