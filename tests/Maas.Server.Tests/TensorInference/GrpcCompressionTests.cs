using System.Buffers.Binary;
using Google.Protobuf;
using Maas.Core.TensorServing;
using Maas.Server.TensorInference.Grpc;
using Maas.Server.TensorInference.Grpc.Protocol;

namespace Maas.Server.Tests.TensorInference;

/// <summary>gRPC message compression: compressed requests, compressed answers, and encodings the server lacks.</summary>
public sealed class GrpcCompressionTests(ProtocolFixture fixture) : IClassFixture<ProtocolFixture>, IDisposable
{
    private const int Rows = 4;
    private readonly GrpcTestClient _grpc = new(fixture.Server.GrpcAddress());

    public void Dispose() => _grpc.Dispose();

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    public async Task A_compressed_request_is_read_and_answered_compressed_the_same_way(string encoding)
    {
        var (message, values) = InferMessage(Rows);
        var result = await _grpc.CallRawAsync("ModelInfer", [GrpcTestClient.Deflate(message, encoding)], ModelInferResponse.Parser,
            new Dictionary<string, string> { ["grpc-encoding"] = encoding, ["grpc-accept-encoding"] = "identity,gzip,deflate" }, compressed: true);

        Assert.True(result.Status == 0, result.Message);
        Assert.Equal(encoding, result.Http.Headers.GetValues("grpc-encoding").Single());
        Assert.Equal(1, result.CompressedFrames);
        Assert.Equal([Rows, 3L], result.Single.Outputs[0].Shape);
        Assert.Equal(values, result.Single.RawOutputContents[0].ToByteArray());
    }

    [Fact]
    public async Task A_client_that_does_not_accept_the_encoding_gets_plain_messages()
    {
        var (message, values) = InferMessage(Rows);
        var result = await _grpc.CallRawAsync("ModelInfer", [GrpcTestClient.Deflate(message, "gzip")], ModelInferResponse.Parser,
            new Dictionary<string, string> { ["grpc-encoding"] = "gzip", ["grpc-accept-encoding"] = "identity" }, compressed: true);

        Assert.True(result.Status == 0, result.Message);
        Assert.False(result.Http.Headers.Contains("grpc-encoding"));
        Assert.Equal(0, result.CompressedFrames);
        Assert.Equal(values, result.Single.RawOutputContents[0].ToByteArray());
    }

    [Fact]
    public async Task Plain_requests_get_plain_answers_and_small_answers_stay_uncompressed()
    {
        // The default ("auto") mirrors the request: a client that sends plain messages gets plain ones.
        var (message, _) = InferMessage(Rows);
        var plain = await _grpc.CallRawAsync("ModelInfer", [message], ModelInferResponse.Parser,
            new Dictionary<string, string> { ["grpc-accept-encoding"] = "identity,gzip" });
        Assert.True(plain.Status == 0, plain.Message);
        Assert.Equal(0, plain.CompressedFrames);

        // A gzip call whose answer is under the threshold: the header says gzip, the frame says "not compressed".
        var live = await _grpc.CallRawAsync("ServerLive", [GrpcTestClient.Deflate(new ServerLiveRequest().ToByteArray(), "gzip")], ServerLiveResponse.Parser,
            new Dictionary<string, string> { ["grpc-encoding"] = "gzip", ["grpc-accept-encoding"] = "gzip" }, compressed: true);
        Assert.Equal(0, live.Status);
        Assert.Equal(0, live.CompressedFrames);
        Assert.True(live.Single.Live);
    }

    [Fact]
    public async Task An_unsupported_encoding_is_unimplemented_and_the_accepted_ones_are_named()
    {
        var (message, _) = InferMessage(2);
        var result = await _grpc.CallRawAsync("ModelInfer", [message], ModelInferResponse.Parser,
            new Dictionary<string, string> { ["grpc-encoding"] = "snappy" });

        Assert.Equal(12, result.Status); // UNIMPLEMENTED
        Assert.Contains("snappy", result.Message);
        var accepted = result.Http.Headers.GetValues("grpc-accept-encoding").Single();
        Assert.Contains("gzip", accepted);
        Assert.Contains("deflate", accepted);
    }

    [Fact]
    public async Task Compressed_frames_without_an_encoding_or_with_bad_data_are_refused()
    {
        var (message, _) = InferMessage(2);
        var noEncoding = await _grpc.CallRawAsync("ModelInfer", [GrpcTestClient.Deflate(message, "gzip")], ModelInferResponse.Parser, compressed: true);
        Assert.Equal(13, noEncoding.Status); // INTERNAL, as the compression spec says
        Assert.Contains("grpc-encoding", noEncoding.Message);

        var garbage = await _grpc.CallRawAsync("ModelInfer", [[1, 2, 3, 4, 5, 6]], ModelInferResponse.Parser,
            new Dictionary<string, string> { ["grpc-encoding"] = "gzip" }, compressed: true);
        Assert.Equal(3, garbage.Status); // INVALID_ARGUMENT
        Assert.Contains("gzip", garbage.Message);
    }

    [Theory]
    [InlineData("auto", "gzip", "identity,gzip", "gzip")]
    [InlineData("auto", "identity", "identity,gzip", "identity")]
    [InlineData("gzip", "identity", "identity,deflate,gzip", "gzip")]
    [InlineData("gzip", "identity", "identity", "identity")]
    [InlineData("gzip", "identity", null, "identity")]
    [InlineData("deflate", "gzip", " gzip , deflate", "deflate")]
    [InlineData("none", "gzip", "gzip", "identity")]
    public void The_response_encoding_follows_the_setting_and_what_the_client_accepts(string setting, string request, string? accept, string expected)
    {
        Assert.True(GrpcCompression.TryParse(request, out var requestEncoding));
        Assert.Equal(expected, GrpcCompression.Name(GrpcCompression.ChooseResponse(setting, requestEncoding, accept)));
    }

    // A BYTES identity call: rows x 3 strings of 300 characters each, so the answer is well over the 1 KiB threshold.
    private static (byte[] Message, byte[] Values) InferMessage(int rows)
    {
        var data = new MemoryStream();
        for (var i = 0; i < rows * 3; i++)
        {
            var text = System.Text.Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat($"element {i} ", 30))[..300]);
            var length = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)text.Length);
            data.Write(length);
            data.Write(text);
        }

        var values = data.ToArray();
        var request = new ModelInferRequest { ModelName = ProtocolFixture.IdentityModel(TensorDataType.Bytes) };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "BYTES" };
        input.Shape.Add([rows, 3]);
        request.Inputs.Add(input);
        request.RawInputContents.Add(ByteString.CopyFrom(values));
        return (request.ToByteArray(), values);
    }
}
