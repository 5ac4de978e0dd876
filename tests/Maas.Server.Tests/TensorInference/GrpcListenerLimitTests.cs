using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Maas.Testing;

namespace Maas.Server.Tests.TensorInference;

/// <summary>
/// The gRPC listener caps its connections (more are closed at once until one ends) and tells every client how many
/// streams one connection may have open (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS), as configured.
/// </summary>
public sealed class GrpcListenerLimitTests
{
    private static readonly byte[] Preface = Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

    [Fact]
    public async Task Connections_past_the_cap_are_closed_and_each_connection_is_told_its_stream_limit()
    {
        await using var server = await InferenceHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:Inference:GrpcMaxConnections"] = "2",
            ["Maas:Inference:GrpcMaxStreamsPerConnection"] = "3",
        });
        var address = server.GrpcAddress();

        using var first = await ConnectAsync(address);
        using var second = await ConnectAsync(address);
        Assert.Equal(3u, await MaxConcurrentStreamsAsync(first));
        Assert.Equal(3u, await MaxConcurrentStreamsAsync(second));

        // A third connection while two are open: closed without a SETTINGS frame.
        using (var third = await ConnectAsync(address))
        {
            Assert.Null(await MaxConcurrentStreamsAsync(third));
        }

        // Once one ends, a new connection is served again (the count drops when the server has seen the close).
        first.Close();
        var streams = await Conditions.ReadUntilAsync(
            async () =>
            {
                using var again = await ConnectAsync(address);
                return await MaxConcurrentStreamsAsync(again);
            },
            served => served is not null,
            "a new connection is served after one closed");
        Assert.Equal(3u, streams);
    }

    private static async Task<Socket> ConnectAsync(Uri address)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(address.Host, address.Port);
        try
        {
            await socket.SendAsync(Preface);
            await socket.SendAsync(new byte[] { 0, 0, 0, 0x4, 0, 0, 0, 0, 0 }); // our (empty) SETTINGS
        }
        catch (SocketException)
        {
            // A connection past the cap may be closed before we are done; reading the answer tells.
        }

        return socket;
    }

    // The server's first frame must be SETTINGS; returns its MAX_CONCURRENT_STREAMS, or null when the server closed
    // the connection instead.
    private static async Task<uint?> MaxConcurrentStreamsAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var header = new byte[9];
        if (!await ReadExactlyOrEndAsync(socket, header, timeout.Token))
        {
            return null;
        }

        Assert.Equal(0x4, header[3]); // SETTINGS
        var payload = new byte[(header[0] << 16) | (header[1] << 8) | header[2]];
        Assert.True(await ReadExactlyOrEndAsync(socket, payload, timeout.Token), "the SETTINGS frame was cut short");
        for (var i = 0; i + 6 <= payload.Length; i += 6)
        {
            if (BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(i)) == 0x3)
            {
                return BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(i + 2));
            }
        }

        Assert.Fail("the server's SETTINGS do not name MAX_CONCURRENT_STREAMS");
        return null;
    }

    // False when the connection ends (closed or reset) before the first byte; a cut inside the buffer fails the test.
    private static async Task<bool> ReadExactlyOrEndAsync(Socket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            int n;
            try
            {
                n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken);
            }
            catch (SocketException ex) when (filled == 0 && ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                return false;
            }

            if (n == 0)
            {
                Assert.True(filled == 0, $"the connection ended after {filled} of {buffer.Length} bytes");
                return false;
            }

            filled += n;
        }

        return true;
    }
}
