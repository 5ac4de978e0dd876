using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Maas.Core.Formats.Onnx;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Inference;

/// <summary>A server with a 4 MiB body limit and a two-input model "sub" (output = a - b, [batch,4] FP32).</summary>
public sealed class BinaryBodyFixture : IAsyncLifetime
{
    public const int MaxBody = 4 * 1024 * 1024;

    private MaasTestServer? _server;

    public MaasTestServer Server => _server!;

    public async Task InitializeAsync()
    {
        _server = await InferenceHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:Inference:MaxRequestBodyBytes"] = MaxBody.ToString(CultureInfo.InvariantCulture),
        });
        var sub = new OnnxModelWriter("sub")
            .Input("a", OnnxElementType.Float, "batch", 4)
            .Input("b", OnnxElementType.Float, "batch", 4)
            .Output("output", OnnxElementType.Float, "batch", 4)
            .Node("Sub", ["a", "b"], ["output"]);
        await Server.RegisterAsync("sub", sub.ToBytes(), new { max_batch_size = 0, instance_count = 1, threads = 1 });
    }

    public async Task DisposeAsync() => await _server!.DisposeAsync();
}

/// <summary>
/// Binary tensor bodies read from the request's pipe in windows: bodies that arrive in many small pieces, with and
/// without a Content-Length, larger than Kestrel's request buffer (1 MiB) and than one read window, bodies that end
/// early, and bodies over the limit.
/// </summary>
public sealed class BinaryBodyReadingTests(BinaryBodyFixture fixture) : IClassFixture<BinaryBodyFixture>
{
    private HttpClient Client => fixture.Server.Client;

    // Piece sizes that put boundaries inside the JSON header, inside a block, just past a block and across the
    // boundary between the two tensors.
    private static readonly int[] Pieces = [1, 7, 4095, 4097, 65537, 300_001];

    [Theory]
    [InlineData(false, 3)]
    [InlineData(true, 3)]
    [InlineData(false, 70_000)] // 2 x 1.1 MB: more than Kestrel's request buffer and than one read window
    [InlineData(true, 70_000)]
    public async Task A_body_sent_in_small_pieces_is_read_whole(bool chunked, int rows)
    {
        var (body, headerLength, a, b) = SubBody(rows);
        var content = new PiecewiseContent(body, Pieces, announceLength: !chunked);
        content.Headers.Add(V2HeaderLength, headerLength.ToString(CultureInfo.InvariantCulture));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/sub/infer") { Content = content };
        request.Headers.TransferEncodingChunked = chunked;

        // Bounded, so that a read waiting for bytes that never come fails the test instead of hanging it.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var response = await Client.SendAsync(request, timeout.Token);
        var (json, binary) = await InferenceHost.ReadBinaryResponseAsync(response);
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToString());
        Assert.Equal(rows * 16, binary.Length);
        var wrong = Enumerable.Range(0, rows * 4).FirstOrDefault(i => BinaryPrimitives.ReadSingleLittleEndian(binary.AsSpan(i * 4)) != a[i] - b[i], -1);
        Assert.True(wrong < 0, $"element {wrong}: {(wrong < 0 ? 0 : BinaryPrimitives.ReadSingleLittleEndian(binary.AsSpan(wrong * 4)))}, expected {(wrong < 0 ? 0 : a[wrong] - b[wrong])}");
    }

    [Fact]
    public async Task A_chunked_body_that_ends_inside_a_binary_tensor_gets_400_naming_the_input()
    {
        var (body, headerLength, _, _) = SubBody(1000);
        var content = new PiecewiseContent(body[..(body.Length - 100)], Pieces, announceLength: false);
        content.Headers.Add(V2HeaderLength, headerLength.ToString(CultureInfo.InvariantCulture));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/sub/infer") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        var response = await Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, text);
        Assert.Contains("the body ended after 15900 bytes of binary data of input 'b' (binary_data_size 16000)", text);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task A_chunked_body_with_bytes_past_its_binary_tensors_gets_400()
    {
        var (body, headerLength, _, _) = SubBody(10);
        var content = new PiecewiseContent([.. body, .. new byte[5000]], Pieces, announceLength: false);
        content.Headers.Add(V2HeaderLength, headerLength.ToString(CultureInfo.InvariantCulture));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/sub/infer") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        var response = await Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, text);
        Assert.Contains("more bytes after the binary tensors than their binary_data_size values (320 bytes) declare", text);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task A_content_length_shorter_than_the_tensors_gets_400_with_both_sizes()
    {
        var (body, headerLength, _, _) = SubBody(100);
        var content = new PiecewiseContent(body[..(body.Length - 16)], Pieces, announceLength: true);
        content.Headers.Add(V2HeaderLength, headerLength.ToString(CultureInfo.InvariantCulture));

        var response = await Client.PostAsync("/v2/models/sub/infer", content);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, text);
        Assert.Contains("the body carries 3184 bytes after the JSON header but the inputs' binary_data_size values add up to 3200 bytes", text);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task A_body_that_stops_short_of_its_content_length_ends_the_request_and_the_model_keeps_serving()
    {
        var (body, headerLength, _, _) = SubBody(20_000); // 640 KB of tensors: the read waits inside its window
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(fixture.Server.BaseAddress.Host, fixture.Server.BaseAddress.Port);
        var head = $"POST /v2/models/sub/infer HTTP/1.1\r\nHost: {fixture.Server.BaseAddress.Authority}\r\n"
            + $"Authorization: Bearer {MaasTestServer.AdminKey}\r\nContent-Type: application/octet-stream\r\n"
            + $"{V2HeaderLength}: {headerLength}\r\nContent-Length: {body.Length}\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(head));
        await socket.SendAsync(body.AsMemory(0, body.Length - 100_000));
        socket.Shutdown(SocketShutdown.Send); // the client gives up: the rest of the announced body never comes

        // The server answers 400 or, as Kestrel does for a client that closed its side, aborts the request; either
        // way the connection ends rather than the read waiting for its window to fill, and the model keeps serving.
        var received = new MemoryStream();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            int n;
            while ((n = await socket.ReceiveAsync(buffer, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, n);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
        }

        var answer = Encoding.UTF8.GetString(received.ToArray());
        Assert.True(answer.Length == 0 || answer.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), answer);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task Binary_bodies_over_the_limit_get_400_with_the_limit_whether_or_not_their_length_is_announced()
    {
        const int rows = 300_000; // input a alone declares 4.8 MB, over the 4 MiB limit
        var over = Encoding.UTF8.GetBytes($$$"""{"inputs":[{"name":"a","shape":[{{{rows}}},4],"datatype":"FP32","parameters":{"binary_data_size":{{{rows * 16}}}}},{"name":"b","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}""");
        foreach (var chunked in new[] { false, true })
        {
            // Announced: refused from the Content-Length before anything is read. Chunked: refused from the declared
            // sizes once the JSON header is read, before a buffer is rented for them.
            byte[] body = chunked ? over : [.. over, .. new byte[(rows * 16) + 16]];
            var content = new PiecewiseContent(body, Pieces, announceLength: !chunked);
            content.Headers.Add(V2HeaderLength, over.Length.ToString(CultureInfo.InvariantCulture));
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/sub/infer") { Content = content };
            request.Headers.TransferEncodingChunked = chunked;

            var response = await Client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"chunked {chunked}: {text}");
            Assert.Contains($"over the limit of {BinaryBodyFixture.MaxBody} bytes (Maas:Inference:MaxRequestBodyBytes)", text);
        }

        await AssertStillServesAsync();
    }

    private const string V2HeaderLength = "Inference-Header-Content-Length";

    private async Task AssertStillServesAsync()
    {
        var (body, headerLength, a, b) = SubBody(2);
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.Add(V2HeaderLength, headerLength.ToString(CultureInfo.InvariantCulture));
        var response = await Client.PostAsync("/v2/models/sub/infer", content);
        var (json, binary) = await InferenceHost.ReadBinaryResponseAsync(response);
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToString());
        Assert.Equal(a[7] - b[7], BinaryPrimitives.ReadSingleLittleEndian(binary.AsSpan(28)));
    }

    // A JSON header and the two tensors a (i / 8) and b (a varying pattern), rows x 4 each, binary outputs.
    private static (byte[] Body, int HeaderLength, float[] A, float[] B) SubBody(int rows)
    {
        var a = Enumerable.Range(0, rows * 4).Select(i => i / 8f).ToArray();
        var b = Enumerable.Range(0, rows * 4).Select(i => (i % 1000 * 7919 % 1000) - 500f).ToArray();
        var size = rows * 16;
        var header = Encoding.UTF8.GetBytes($$$"""{"inputs":[{"name":"a","shape":[{{{rows}}},4],"datatype":"FP32","parameters":{"binary_data_size":{{{size}}}}},{"name":"b","shape":[{{{rows}}},4],"datatype":"FP32","parameters":{"binary_data_size":{{{size}}}}}],"parameters":{"binary_data_output":true}}""");
        return ([.. header, .. InferenceHost.Floats(a), .. InferenceHost.Floats(b)], header.Length, a, b);
    }

    /// <summary>
    /// A request body written in pieces of the given sizes (cycled), each flushed to the socket on its own, so the
    /// server receives it in many reads; with or without a Content-Length (chunked when without).
    /// </summary>
    private sealed class PiecewiseContent : HttpContent
    {
        private readonly byte[] _body;
        private readonly int[] _pieces;
        private readonly bool _announceLength;

        public PiecewiseContent(byte[] body, int[] pieces, bool announceLength)
        {
            _body = body;
            _pieces = pieces;
            _announceLength = announceLength;
            Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var offset = 0;
            for (var i = 0; offset < _body.Length; i++)
            {
                var length = Math.Min(_pieces[i % _pieces.Length], _body.Length - offset);
                await stream.WriteAsync(_body.AsMemory(offset, length));
                await stream.FlushAsync();
                offset += length;
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _body.Length;
            return _announceLength;
        }
    }
}
