using System.Net;
using System.Net.Sockets;
using System.Text;
using Maas.Core.Formats.Onnx;
using Maas.Server.TensorInference.Transport;
using Maas.Server.Tests.Support;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.TensorInference;

/// <summary>
/// The thread-per-connection transport (<c>Maas:Inference:HttpTransport=threads</c>): Kestrel binds with it, bodies and
/// responses larger than its read-ahead and write-behind arrive whole (plain, chunked, in small pieces), a client that
/// leaves mid-body or stays idle costs no thread once it is gone, and the server stops with idle connections open.
/// </summary>
public sealed class ConnectionThreadTransportTests : IAsyncLifetime
{
    private const int Rows = 65_536; // 1 MiB of FP32 in, the same out
    private MaasTestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await InferenceHost.StartAsync(new Dictionary<string, string?> { ["Maas:Inference:HttpTransport"] = "threads" });
        await _server.RegisterAsync("wide", OnnxModelWriter.Identity(OnnxElementType.Float, "batch", 4).ToBytes(), new { max_batch_size = 0 });
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Kestrel_serves_through_it_and_a_megabyte_tensor_round_trips_on_one_connection()
    {
        var raw = Tensor(Rows);
        var json = Header(Rows, raw.Length);
        for (var call = 0; call < 3; call++)
        {
            using var response = await _server.Client.PostAsync("/v2/models/wide/infer", InferenceHost.BinaryBody(json, raw));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var (_, binary) = await InferenceHost.ReadBinaryResponseAsync(response);
            Assert.Equal(raw, binary);
        }

        // Kestrel bound with this transport: the connection the client keeps open has a thread of it.
        Assert.True(RunningThreads() >= 1, "the client's open connection has a thread of the transport");
    }

    [Fact]
    public async Task A_chunked_body_and_a_body_in_small_pieces_arrive_whole()
    {
        var raw = Tensor(1024);
        var content = InferenceHost.BinaryBody(Header(1024, raw.Length), raw);
        var body = await content.ReadAsByteArrayAsync();
        var headerLength = content.Headers.GetValues("Inference-Header-Content-Length").Single();

        // Chunked: 1000-byte chunks, so no chunk lines up with a receive.
        using (var socket = await ConnectAsync())
        {
            var head = $"POST /v2/models/wide/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {MaasTestServer.AdminKey}\r\n"
                + $"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {headerLength}\r\nTransfer-Encoding: chunked\r\n\r\n";
            await socket.SendAsync(Encoding.ASCII.GetBytes(head));
            foreach (var chunk in body.Chunk(1000))
            {
                await socket.SendAsync(Encoding.ASCII.GetBytes($"{chunk.Length:x}\r\n"));
                await socket.SendAsync(chunk);
                await socket.SendAsync("\r\n"u8.ToArray());
            }

            await socket.SendAsync("0\r\n\r\n"u8.ToArray());
            var (status, binary) = await ReadBinaryAnswerAsync(socket);
            Assert.Equal(200, status);
            Assert.Equal(raw, binary);
        }

        // Content-Length, sent 7 bytes at a time.
        using (var socket = await ConnectAsync())
        {
            var head = $"POST /v2/models/wide/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {MaasTestServer.AdminKey}\r\n"
                + $"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {headerLength}\r\nContent-Length: {body.Length}\r\n\r\n";
            foreach (var piece in Encoding.ASCII.GetBytes(head).Concat(body).Chunk(7))
            {
                await socket.SendAsync(piece);
            }

            var (status, binary) = await ReadBinaryAnswerAsync(socket);
            Assert.Equal(200, status);
            Assert.Equal(raw, binary);
        }
    }

    [Fact]
    public async Task Clients_that_leave_mid_body_or_idle_leave_no_thread_behind_and_others_are_served()
    {
        var before = RunningThreads();
        var raw = Tensor(Rows);
        var sockets = new List<Socket>();
        for (var i = 0; i < 4; i++)
        {
            var socket = await ConnectAsync();
            var json = Header(Rows, raw.Length);
            var head = $"POST /v2/models/wide/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {MaasTestServer.AdminKey}\r\n"
                + $"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {json.Length}\r\nContent-Length: {json.Length + raw.Length}\r\n\r\n{json}";
            if (i % 2 == 0)
            {
                await socket.SendAsync(Encoding.ASCII.GetBytes(head)); // half the clients leave mid-body, half never send
                await socket.SendAsync(raw.AsMemory(0, raw.Length / 3));
            }

            sockets.Add(socket);
        }

        await WaitUntilAsync(() => RunningThreads() >= before + 4, "a thread per new connection");
        foreach (var socket in sockets)
        {
            socket.Close(); // a reset or a FIN, mid-request
        }

        await WaitUntilAsync(() => RunningThreads() <= before, "the departed clients' threads to end");
        using var response = await _server.Client.PostAsync("/v2/models/wide/infer", InferenceHost.BinaryBody(Header(Rows, raw.Length), raw));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task The_server_stops_with_an_idle_keep_alive_connection_open_and_closes_it()
    {
        await using var server = await InferenceHost.StartAsync(new Dictionary<string, string?> { ["Maas:Inference:HttpTransport"] = "threads" });
        using var socket = await ConnectAsync(server);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"));
        var first = new byte[4096];
        var n = await socket.ReceiveAsync(first);
        Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(first, 0, n), StringComparison.Ordinal);

        // The connection now waits in a blocking receive for a next request that never comes.
        var stopping = server.DisposeAsync().AsTask();
        await stopping.WaitAsync(Ceiling);
        var closed = await socket.ReceiveAsync(first).WaitAsync(Ceiling);
        Assert.Equal(0, closed);
    }

    [Fact]
    public void The_thread_pool_does_not_spin_for_the_threads_transport_unless_told_otherwise()
    {
        const string Threads = "--Maas:Inference:HttpTransport=threads";
        Assert.Equal("0", ConnectionThreadRuntime.SpinLimitToSet([Threads], environmentValue: null, configuredValue: null));
        Assert.Null(ConnectionThreadRuntime.SpinLimitToSet(["--Maas:Inference:HttpTransport=sockets"], null, null));
        Assert.Null(ConnectionThreadRuntime.SpinLimitToSet([Threads], environmentValue: "70", configuredValue: null));
        Assert.Null(ConnectionThreadRuntime.SpinLimitToSet([Threads], environmentValue: null, configuredValue: "9"));
    }

    private async Task<Socket> ConnectAsync(MaasTestServer? server = null)
    {
        var address = (server ?? _server).BaseAddress;
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(address.Host, address.Port);
        return socket;
    }

    private static byte[] Tensor(int rows)
    {
        var raw = new byte[rows * 4 * sizeof(float)];
        for (var i = 0; i < raw.Length / sizeof(float); i++)
        {
            BitConverter.TryWriteBytes(raw.AsSpan(i * sizeof(float)), (float)i);
        }

        return raw;
    }

    private static string Header(int rows, int bytes) =>
        $$$"""{"inputs":[{"name":"input","shape":[{{{rows}}},4],"datatype":"FP32","parameters":{"binary_data_size":{{{bytes}}}}}],"parameters":{"binary_data_output":true}}""";

    private int RunningThreads() =>
        _server.Services.GetServices<IConnectionListenerFactory>().OfType<ConnectionThreadTransportFactory>().Single().RunningThreads;

    // The status of the next answer and the bytes after its JSON header (the binary outputs).
    private static async Task<(int Status, byte[] Binary)> ReadBinaryAnswerAsync(Socket socket)
    {
        var response = await RawHttpResponse.ReadAsync(socket);
        var jsonLength = int.Parse(response.Headers["inference-header-content-length"], System.Globalization.CultureInfo.InvariantCulture);
        return (response.Status, response.Body[jsonLength..]);
    }
}
