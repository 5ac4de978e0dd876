using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Maas.Server.Tests.Support;

/// <summary>One HTTP/1.1 response read off a raw socket (Content-Length framed), for tests that write requests by hand.</summary>
internal sealed record RawHttpResponse(int Status, Dictionary<string, string> Headers, byte[] Body)
{
    /// <summary>Reads the next response on <paramref name="socket"/>; fails the test if the connection closes first or 30 s pass.</summary>
    public static async Task<RawHttpResponse> ReadAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[1 << 16];
        var filled = 0;
        int end;
        while ((end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
        {
            buffer = Room(buffer, filled);
            filled += await ReceiveAsync(socket, buffer.AsMemory(filled), "the connection closed before a response", timeout.Token);
        }

        var lines = Encoding.ASCII.GetString(buffer, 0, end).Split("\r\n");
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim().ToLowerInvariant(), p => p[1].Trim());
        var length = int.Parse(headers["content-length"], CultureInfo.InvariantCulture);
        while (filled - (end + 4) < length)
        {
            buffer = Room(buffer, filled);
            filled += await ReceiveAsync(socket, buffer.AsMemory(filled), "the connection closed inside the response body", timeout.Token);
        }

        return new RawHttpResponse(int.Parse(lines[0].AsSpan(9, 3), CultureInfo.InvariantCulture), headers, buffer.AsSpan(end + 4, length).ToArray());
    }

    /// <summary>The body as UTF-8 text.</summary>
    public string Text => Encoding.UTF8.GetString(Body);

    // The buffer, doubled when it is full.
    private static byte[] Room(byte[] buffer, int filled)
    {
        if (filled == buffer.Length)
        {
            Array.Resize(ref buffer, buffer.Length * 2);
        }

        return buffer;
    }

    private static async Task<int> ReceiveAsync(Socket socket, Memory<byte> into, string closed, CancellationToken ct)
    {
        var n = await socket.ReceiveAsync(into, ct);
        Assert.True(n > 0, closed);
        return n;
    }
}
