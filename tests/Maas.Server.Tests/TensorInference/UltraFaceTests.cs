using System.Net;
using Google.Protobuf;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.TensorInference;

/// <summary>The real UltraFace detector from ../shared/models served over REST (binary and JSON) and gRPC, finding the faces.</summary>
public sealed class UltraFaceTests
{
    private const string Model = "ultraface-rfb-320.onnx";

    /// <summary>The sample picture as NCHW floats, normalised as (x - 127) / 128.</summary>
    private static float[] Picture()
    {
        var ppm = File.ReadAllBytes(SharedModels.PathOf("faces-sample-320x240.ppm"));
        // P6 header: magic, width, height, max value, each followed by whitespace.
        var fields = 0;
        var offset = 0;
        while (fields < 4)
        {
            while (char.IsWhiteSpace((char)ppm[offset]))
            {
                offset++;
            }

            while (!char.IsWhiteSpace((char)ppm[offset]))
            {
                offset++;
            }

            fields++;
        }

        offset++;
        const int W = 320, H = 240;
        var data = new float[3 * H * W];
        for (var i = 0; i < H * W; i++)
        {
            for (var c = 0; c < 3; c++)
            {
                data[(c * H * W) + i] = (ppm[offset + (i * 3) + c] - 127f) / 128f;
            }
        }

        return data;
    }

    private static int Faces(ReadOnlySpan<byte> scores)
    {
        var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(scores);
        var count = 0;
        for (var i = 1; i < values.Length; i += 2)
        {
            if (values[i] > 0.7f)
            {
                count++;
            }
        }

        return count;
    }

    [SharedModelFact(Model)]
    public async Task UltraFace_finds_the_faces_over_rest_and_grpc()
    {
        await using var server = await InferenceHost.StartAsync();
        await server.RegisterAsync("ultraface", File.ReadAllBytes(SharedModels.PathOf(Model)));
        var (metaStatus, meta) = await server.Client.GetJsonAsync("/v2/models/ultraface");
        Assert.Equal(HttpStatusCode.OK, metaStatus);
        Assert.Equal("[1,3,240,320]", meta.GetProperty("inputs")[0].GetProperty("shape").GetRawText());

        var picture = InferenceHost.Floats(Picture());
        var json = $$$"""{"inputs":[{"name":"input","shape":[1,3,240,320],"datatype":"FP32","parameters":{"binary_data_size":{{{picture.Length}}}}}],"outputs":""" +
            $$$"""[{"name":"scores","parameters":{"binary_data":true}}]}""";
        var response = await server.Client.PostAsync("/v2/models/ultraface/infer", InferenceHost.BinaryBody(json, picture));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (header, binary) = await InferenceHost.ReadBinaryResponseAsync(response);
        Assert.Equal("[1,4420,2]", header.GetProperty("outputs")[0].GetProperty("shape").GetRawText());
        var restFaces = Faces(binary);
        Assert.InRange(restFaces, 50, 120); // ONNX Runtime finds 86 anchors above 0.7 on this picture

        using var grpc = new GrpcTestClient(server.GrpcAddress());
        var request = new ModelInferRequest { ModelName = "ultraface" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32" };
        input.Shape.Add([1, 3, 240, 320]);
        request.Inputs.Add(input);
        request.RawInputContents.Add(ByteString.CopyFrom(picture));
        var result = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
        Assert.True(result.Status == 0, result.Message);
        var scores = result.Single.Outputs.ToList().FindIndex(o => o.Name == "scores");
        Assert.Equal(restFaces, Faces(result.Single.RawOutputContents[scores].Span));

        // A fixed batch of one: a batch of two is refused with the reason, not batched.
        var (twoStatus, two, _) = await server.Client.PostJsonAsync("/v2/models/ultraface/infer",
            """{"inputs":[{"name":"input","shape":[2,3,240,320],"datatype":"FP32","data":[]}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, twoStatus);
        Assert.Contains("input 'input'", two.GetProperty("error").GetString());
    }
}
