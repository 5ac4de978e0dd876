using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;

namespace Maas.Server.Tests.TensorInference;

/// <summary>The result of one gRPC call: status, message and the response messages.</summary>
internal sealed record GrpcResult<T>(int Status, string? Message, IReadOnlyList<T> Responses, HttpResponseMessage Http)
{
    /// <summary>How many response frames had the compressed flag set.</summary>
    public int CompressedFrames { get; init; }

    public T Single => Responses.Count == 1 ? Responses[0] : throw new InvalidOperationException($"status {Status} ({Message}) with {Responses.Count} messages");

    public string? Trailer(string name) =>
        Http.TrailingHeaders.TryGetValues(name, out var v) ? v.First() : Http.Headers.TryGetValues(name, out var h) ? h.First() : null;
}

/// <summary>A minimal gRPC client over HttpClient (HTTP/2 prior knowledge, h2c) for the v2 inference service.</summary>
internal sealed class GrpcTestClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly string? _apiKey;

    /// <summary>A client for <paramref name="address"/> that sends <paramref name="apiKey"/> as metadata (none when null).</summary>
    /// <param name="trust">For an https:// address: the one server certificate to accept (tests generate their own).</param>
    public GrpcTestClient(Uri address, string? apiKey = Support.MaasTestServer.AdminKey, System.Security.Cryptography.X509Certificates.X509Certificate2? trust = null)
    {
        _apiKey = apiKey;
        var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true };
        if (trust is not null)
        {
            handler.SslOptions.RemoteCertificateValidationCallback =
                (_, certificate, _, _) => certificate is not null && certificate.GetCertHashString() == trust.GetCertHashString();
        }

        _http = new HttpClient(handler)
        {
            BaseAddress = address,
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public Task<GrpcResult<TResponse>> CallAsync<TResponse>(string method, IMessage request, MessageParser<TResponse> parser, IReadOnlyDictionary<string, string>? headers = null,
        CancellationToken cancellationToken = default)
        where TResponse : IMessage<TResponse> =>
        CallRawAsync(method, [request.ToByteArray()], parser, headers, cancellationToken);

    /// <summary>Sends already-serialised messages (one frame each), e.g. a stream or a malformed message.</summary>
    /// <param name="compressed">Marks every frame as compressed (the bytes must already be); the caller sets grpc-encoding.</param>
    public async Task<GrpcResult<TResponse>> CallRawAsync<TResponse>(string method, IReadOnlyList<byte[]> messages, MessageParser<TResponse> parser,
        IReadOnlyDictionary<string, string>? headers = null, CancellationToken cancellationToken = default, bool compressed = false)
        where TResponse : IMessage<TResponse>
    {
        var body = new MemoryStream();
        foreach (var m in messages)
        {
            var prefix = new byte[5];
            prefix[0] = compressed ? (byte)1 : (byte)0;
            BinaryPrimitives.WriteUInt32BigEndian(prefix.AsSpan(1), (uint)m.Length);
            body.Write(prefix);
            body.Write(m);
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/inference.GRPCInferenceService/" + method)
        {
            Content = new ByteArrayContent(body.ToArray()),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.ParseAdd("trailers");
        var credentials = headers?.Keys.Any(
            k => k.Equals("authorization", StringComparison.OrdinalIgnoreCase) || k.Equals("x-api-key", StringComparison.OrdinalIgnoreCase)) == true;
        if (_apiKey is not null && !credentials)
        {
            request.Headers.TryAddWithoutValidation("authorization", "Bearer " + _apiKey);
        }
        foreach (var (k, v) in headers ?? new Dictionary<string, string>())
        {
            request.Headers.TryAddWithoutValidation(k, v);
        }

        var response = await _http.SendAsync(request, cancellationToken);
        var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        var responses = new List<TResponse>();
        var compressedFrames = 0;
        var encoding = response.Headers.TryGetValues("grpc-encoding", out var e) ? e.First() : null;
        for (var offset = 0; offset + 5 <= bytes.Length;)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(offset + 1));
            var frame = bytes.AsSpan(offset + 5, length).ToArray();
            if (bytes[offset] == 1)
            {
                compressedFrames++;
                frame = Inflate(frame, encoding ?? throw new InvalidOperationException("a compressed response frame without grpc-encoding"));
            }

            responses.Add(parser.ParseFrom(frame));
            offset += 5 + length;
        }

        var result = new GrpcResult<TResponse>(-1, null, responses, response) { CompressedFrames = compressedFrames };
        var status = result.Trailer("grpc-status");
        var message = result.Trailer("grpc-message");
        return result with
        {
            Status = status is null ? -1 : int.Parse(status, System.Globalization.CultureInfo.InvariantCulture),
            Message = message is null ? null : Uri.UnescapeDataString(message),
        };
    }

    /// <summary>Compresses a message the way a gRPC client does for grpc-encoding gzip or deflate (zlib).</summary>
    public static byte[] Deflate(byte[] message, string encoding)
    {
        var output = new MemoryStream();
        using (Stream z = encoding == "gzip"
            ? new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true)
            : new System.IO.Compression.ZLibStream(output, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
        {
            z.Write(message);
        }

        return output.ToArray();
    }

    private static byte[] Inflate(byte[] frame, string encoding)
    {
        using var input = new MemoryStream(frame);
        using Stream z = encoding switch
        {
            "gzip" => new System.IO.Compression.GZipStream(input, System.IO.Compression.CompressionMode.Decompress),
            "deflate" => new System.IO.Compression.ZLibStream(input, System.IO.Compression.CompressionMode.Decompress),
            _ => throw new InvalidOperationException($"unexpected grpc-encoding '{encoding}'"),
        };
        var output = new MemoryStream();
        z.CopyTo(output);
        return output.ToArray();
    }

    public void Dispose() => _http.Dispose();
}
