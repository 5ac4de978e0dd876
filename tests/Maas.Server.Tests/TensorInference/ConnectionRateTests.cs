using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Server.Auth;
using Maas.Server.TensorInference;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.TensorInference;

/// <summary>
/// The per-address rate of new connections (<c>Maas:Inference:HttpConnectionsPerSecondPerAddress</c>): over it a
/// connection is answered 429 with Retry-After in its route's error format and closed unparsed; connections already
/// open go on; the rate refills with time; trusted proxies are never limited; IPv6 clients count per /64.
/// </summary>
public sealed class ConnectionRateTests
{
    [Fact]
    public void A_bucket_gives_its_burst_then_its_rate_and_counts_refusals()
    {
        var clock = new AdjustableClock();
        using var held = clock.Hold();
        var rate = new AddressConnectionRate(perSecond: 2, burst: 3, exempt: [], clock);
        var client = IPAddress.Parse("192.0.2.7");

        Assert.True(rate.TryAdmit(client));
        Assert.True(rate.TryAdmit(client));
        Assert.True(rate.TryAdmit(client));
        Assert.False(rate.TryAdmit(client));
        Assert.Equal(1, rate.RetryAfterSeconds(client)); // half a second to the next token, rounded up
        Assert.True(rate.TryAdmit(IPAddress.Parse("192.0.2.8"))); // another address has its own bucket

        clock.Advance(TimeSpan.FromMilliseconds(500)); // one token at 2 a second
        Assert.True(rate.TryAdmit(client));
        Assert.False(rate.TryAdmit(client));

        clock.Advance(TimeSpan.FromHours(1)); // refills to the burst, never past it
        Assert.True(rate.TryAdmit(client));
        Assert.True(rate.TryAdmit(client));
        Assert.True(rate.TryAdmit(client));
        Assert.False(rate.TryAdmit(client));
        Assert.Equal(3, rate.Refused);
    }

    [Fact]
    public void IPv6_clients_share_a_bucket_per_64_and_mapped_IPv4_is_IPv4()
    {
        var clock = new AdjustableClock();
        using var held = clock.Hold();
        var rate = new AddressConnectionRate(perSecond: 1, burst: 1, exempt: [], clock);

        Assert.True(rate.TryAdmit(IPAddress.Parse("2001:db8:1:2::1")));
        Assert.False(rate.TryAdmit(IPAddress.Parse("2001:db8:1:2:ffff::9"))); // same /64: a rotated address is no way out
        Assert.True(rate.TryAdmit(IPAddress.Parse("2001:db8:1:3::1"))); // the next /64 is another client

        Assert.True(rate.TryAdmit(IPAddress.Parse("198.51.100.1")));
        Assert.False(rate.TryAdmit(IPAddress.Parse("::ffff:198.51.100.1")));
        Assert.Equal(IPAddress.Parse("2001:db8:1:2::"), AddressConnectionRate.KeyOf(IPAddress.Parse("2001:db8:1:2:abcd::1")));
    }

    [Fact]
    public void Trusted_proxies_are_never_limited()
    {
        var clock = new AdjustableClock();
        using var held = clock.Hold();
        var rate = new AddressConnectionRate(perSecond: 1, burst: 1, exempt: [IPNetwork.Parse("10.0.0.0/8")], clock);

        for (var i = 0; i < 100; i++)
        {
            Assert.True(rate.TryAdmit(IPAddress.Parse("10.1.2.3")));
        }

        Assert.True(rate.TryAdmit(IPAddress.Parse("11.0.0.1")));
        Assert.False(rate.TryAdmit(IPAddress.Parse("11.0.0.1")));
        Assert.Equal(1, rate.Refused);
    }

    [Theory]
    [InlineData("POST /v2/models/m/infer HTTP/1.1\r\n", ErrorStyle.Oip)]
    [InlineData("POST /v1/chat/completions HTTP/1.1\r\n", ErrorStyle.OpenAi)]
    [InlineData("GET /api/v1/models?limit=3 HTTP/1.1\r\n", ErrorStyle.Management)]
    [InlineData("GET /v2", ErrorStyle.Oip)] // the request line cut short in the first read
    [InlineData("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", null)] // HTTP/2 prior knowledge cannot be answered in HTTP/1.1
    [InlineData("\u0016\u0003\u0001\u0002\u0000", null)] // a TLS ClientHello
    [InlineData("get /v2 HTTP/1.1\r\n", null)] // not a request line
    public void The_first_bytes_pick_the_error_format(string first, ErrorStyle? expected)
    {
        Assert.Equal(expected, AddressConnectionRateMiddleware.StyleOf(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(first))));
    }

    [Fact]
    public async Task A_server_refuses_connections_over_the_rate_in_each_protocols_format_and_serves_open_ones()
    {
        var clock = new AdjustableClock();
        using var held = clock.Hold();
        await using var server = await MaasTestServer.StartAsync(
            settings: new Dictionary<string, string?>
            {
                ["Maas:Inference:HttpConnectionsPerSecondPerAddress"] = "1",
                ["Maas:Inference:HttpConnectionBurstPerAddress"] = "2",
            },
            configure: builder => builder.Services.AddSingleton<TimeProvider>(clock));
        var port = server.BaseAddress.Port;

        // The burst: two connections, each served; the first stays open.
        using var open = await ConnectAsync(port);
        Assert.Equal(200, (await RequestAsync(open, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")).Status);
        using (var second = await ConnectAsync(port))
        {
            Assert.Equal(200, (await RequestAsync(second, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")).Status);
        }

        // Over the rate: 429, Retry-After, the limit named with its value, in the format of the route asked for; closed.
        using (var refused = await ConnectAsync(port))
        {
            var answer = await RequestAsync(refused, "POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
            Assert.Equal(429, answer.Status);
            Assert.Equal("1", answer.Headers["retry-after"]);
            var message = (string?)answer.Json["error"];
            Assert.Contains("HttpConnectionsPerSecondPerAddress = 1", message);
            Assert.Contains("HttpConnectionBurstPerAddress = 2", message);
            Assert.True(await ClosedAsync(refused)); // the server closed it
        }

        using (var refused = await ConnectAsync(port))
        {
            var answer = await RequestAsync(refused, "GET /api/v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
            Assert.Equal((429, "connection_rate_limited"), (answer.Status, (string?)answer.Json["error"]!["code"]));
        }

        using (var refused = await ConnectAsync(port))
        {
            var answer = await RequestAsync(refused, "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
            Assert.Equal((429, "requests"), (answer.Status, (string?)answer.Json["error"]!["type"]));
        }

        // The connection admitted before goes on being served: the limit is on new connections, not on requests.
        Assert.Equal(200, (await RequestAsync(open, "GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")).Status);
        Assert.Equal(3, server.Services.GetRequiredService<AddressConnectionRate>().Refused);

        // A second later the address has a token again.
        clock.Advance(TimeSpan.FromSeconds(1));
        using var later = await ConnectAsync(port);
        Assert.Equal(200, (await RequestAsync(later, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")).Status);
    }

    [Fact]
    public async Task Without_the_setting_no_connection_is_limited()
    {
        await using var server = await MaasTestServer.StartAsync();
        Assert.Null(server.Services.GetService<AddressConnectionRate>());
        for (var i = 0; i < 60; i++)
        {
            using var connection = await ConnectAsync(server.BaseAddress.Port);
            Assert.Equal(200, (await RequestAsync(connection, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")).Status);
        }
    }

    private static async Task<TcpClient> ConnectAsync(int port)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        return client;
    }

    private sealed record Answer(int Status, Dictionary<string, string> Headers, JsonNode Json);

    // One HTTP/1.1 exchange by hand: the refusal happens below HttpClient's connection pool, which would hide it.
    private static async Task<Answer> RequestAsync(TcpClient connection, string request)
    {
        var stream = connection.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var received = new List<byte>();
        var buffer = new byte[4096];
        int headEnd;
        while ((headEnd = IndexOf(received, "\r\n\r\n"u8)) < 0)
        {
            var n = await stream.ReadAsync(buffer);
            Assert.True(n > 0, "the connection closed before an answer: " + Encoding.ASCII.GetString(received.ToArray()));
            received.AddRange(buffer.AsSpan(0, n).ToArray());
        }

        var head = Encoding.ASCII.GetString(received.ToArray(), 0, headEnd).Split("\r\n");
        var status = int.Parse(head[0].Split(' ')[1], CultureInfo.InvariantCulture);
        var headers = head.Skip(1).Select(h => h.Split(':', 2)).ToDictionary(h => h[0].Trim().ToLowerInvariant(), h => h[1].Trim());
        if (!headers.TryGetValue("content-length", out var declared))
        {
            // A chunked answer (the health probes): read to its last chunk; only its status is checked.
            while (IndexOf(received, "\r\n0\r\n\r\n"u8) < 0)
            {
                var n = await stream.ReadAsync(buffer);
                Assert.True(n > 0, "the connection closed mid-body");
                received.AddRange(buffer.AsSpan(0, n).ToArray());
            }

            return new Answer(status, headers, new JsonObject());
        }

        var length = int.Parse(declared, CultureInfo.InvariantCulture);
        while (received.Count < headEnd + 4 + length)
        {
            var n = await stream.ReadAsync(buffer);
            Assert.True(n > 0, "the connection closed mid-body");
            received.AddRange(buffer.AsSpan(0, n).ToArray());
        }

        var body = Encoding.UTF8.GetString(received.ToArray(), headEnd + 4, length);
        return new Answer(status, headers, length == 0 || !body.StartsWith('{') ? new JsonObject() : JsonNode.Parse(body)!);
    }

    // A closed connection reads end of stream, or a reset when the client's own bytes were still unread at the close.
    private static async Task<bool> ClosedAsync(TcpClient connection)
    {
        try
        {
            return await connection.GetStream().ReadAsync(new byte[1]) == 0;
        }
        catch (IOException)
        {
            return true;
        }
    }

    private static int IndexOf(List<byte> bytes, ReadOnlySpan<byte> value) => bytes.ToArray().AsSpan().IndexOf(value);
}
