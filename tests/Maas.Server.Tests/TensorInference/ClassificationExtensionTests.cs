using System.Net;
using Google.Protobuf;
using Maas.Server.TensorInference.Grpc.Protocol;

namespace Maas.Server.Tests.TensorInference;

/// <summary>
/// The classification extension is not implemented: an output asked for with "classification" was answered with its raw
/// scores, which a client reads as the top classes it asked for. Refused instead, in each protocol's error format.
/// </summary>
public sealed class ClassificationExtensionTests(SmallLimitsFixture fixture) : IClassFixture<SmallLimitsFixture>
{
    [Theory]
    [InlineData("3")]
    [InlineData("\"3\"")]
    public async Task An_output_asking_for_classification_gets_400_over_rest(string count)
    {
        var body = $$$"""{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"outputs":[{"name":"output","parameters":{"classification":{{{count}}}}}]}""";
        var (status, error, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/m/infer", body);
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {error}");
        Assert.Contains("output 'output': the classification extension (parameter \"classification\") is not supported", error.GetProperty("error").GetString());

        // Without it the same request is served.
        var (served, _, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/m/infer", body.Replace($"\"classification\":{count}", "\"binary_data\":false", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, served);
    }

    [Fact]
    public async Task An_output_asking_for_classification_gets_invalid_argument_over_grpc()
    {
        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var request = new ModelInferRequest { ModelName = "m" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32" };
        input.Shape.Add([1, 4]);
        request.Inputs.Add(input);
        request.RawInputContents.Add(ByteString.CopyFrom(InferenceHost.Floats([1, 2, 3, 4])));
        var output = new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "output" };
        output.Parameters["classification"] = new InferParameter { Int64Param = 2 };
        request.Outputs.Add(output);
        var result = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
        Assert.Equal(3, result.Status); // INVALID_ARGUMENT
        Assert.Contains("output 'output': the classification extension (parameter \"classification\") is not supported", result.Message);

        output.Parameters.Clear();
        Assert.Equal(0, (await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser)).Status);
    }
}
