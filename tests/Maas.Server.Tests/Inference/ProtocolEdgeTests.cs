using System.Net;
using Google.Protobuf;
using Maas.Server.Inference.Grpc.Protocol;

namespace Maas.Server.Tests.Inference;

/// <summary>Unusual but legal protocol input: answered, or refused in the protocol's own error format, never a 500.</summary>
public sealed class ProtocolEdgeTests(SmallLimitsFixture fixture) : IClassFixture<SmallLimitsFixture>
{
    private HttpClient Client => fixture.Server.Client;

    // One valid input row, then the rest of the request object.
    private static string Body(string rest) => """{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]""" + rest + "}";

    // Timeouts longer than .NET's longest timer (about 24.8 days) once threw inside the scheduler: a 500 / INTERNAL.
    [Theory]
    [InlineData("9223372036854775807")] // past TimeSpan itself
    [InlineData("5000000000000")] // 58 days, past the longest timer
    [InlineData("18446744073709551615")] // uint64's largest, which Triton clients may send for "no timeout"
    public async Task A_timeout_parameter_of_weeks_or_more_is_served_over_rest(string micros)
    {
        var (status, body, _) = await Client.PostJsonAsync("/v2/models/m/infer", Body(""","parameters":{"timeout":MICROS}""".Replace("MICROS", micros)));
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {body}");
        Assert.Equal("[1,2,3,4]", body.GetProperty("outputs")[0].GetProperty("data").GetRawText());
    }

    [Fact]
    public async Task A_timeout_parameter_or_grpc_timeout_of_weeks_or_more_is_served_over_grpc()
    {
        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var request = Request();
        request.Parameters["timeout"] = new InferParameter { Int64Param = long.MaxValue };
        var result = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
        Assert.True(result.Status == 0, $"status {result.Status} {result.Message}");

        // grpc-timeout's largest value (8 digits of hours, about 11000 years), as clients with "no deadline" send it.
        var untimed = await grpc.CallAsync("ModelInfer", Request(), ModelInferResponse.Parser, new Dictionary<string, string> { ["grpc-timeout"] = "99999999H" });
        Assert.True(untimed.Status == 0, $"status {untimed.Status} {untimed.Message} (HTTP {(int)untimed.Http.StatusCode})");
        Assert.Equal(16, untimed.Single.RawOutputContents[0].Length);
    }

    private static ModelInferRequest Request()
    {
        var request = new ModelInferRequest { ModelName = "m" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32" };
        input.Shape.Add([1, 4]);
        request.Inputs.Add(input);
        request.RawInputContents.Add(ByteString.CopyFrom(InferenceHost.Floats([1, 2, 3, 4])));
        return request;
    }
}
