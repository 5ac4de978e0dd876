using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Maas.Core.TensorServing;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.TensorInference;

/// <summary>A server with small limits and one FP32 model [batch,4] → [batch,4] for the bad-input cases.</summary>
public sealed class SmallLimitsFixture : IAsyncLifetime
{
    public const int MaxBody = 64 * 1024;
    public const int MaxElements = 1000;
    public const int MaxLabels = 8;
    public const int MaxLabelChars = 16;

    private MaasTestServer? _server;

    public MaasTestServer Server => _server!;

    public async Task InitializeAsync()
    {
        _server = await InferenceHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:Inference:MaxRequestBodyBytes"] = MaxBody.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Maas:Inference:MaxTensorElements"] = MaxElements.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Maas:ServingLimits:MaxLabelsPerOutput"] = MaxLabels.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Maas:ServingLimits:MaxLabelChars"] = MaxLabelChars.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        await Server.RegisterAsync("m", Maas.Core.Formats.Onnx.OnnxModelWriter.Identity(Maas.Core.Formats.Onnx.OnnxElementType.Float, "batch", 4).ToBytes());
    }

    public async Task DisposeAsync() => await _server!.DisposeAsync();
}

/// <summary>
/// Every bad input of the issue, over REST and gRPC: a 400 / INVALID_ARGUMENT with a message naming the input and what
/// was expected, and the model's queue keeps serving afterwards.
/// </summary>
public sealed class BadInputTests(SmallLimitsFixture fixture) : IClassFixture<SmallLimitsFixture>
{
    private HttpClient Client => fixture.Server.Client;

    private static string Input(string name = "input", string datatype = "FP32", string shape = "[1,4]", string data = "[1,2,3,4]") =>
        $$$"""{"inputs":[{"name":"{{{name}}}","shape":{{{shape}}},"datatype":"{{{datatype}}}","data":{{{data}}}}]}""";

    public static TheoryData<string, string, string[]> JsonCases() => new()
    {
        { "wrong input name", Input(name: "pixels"), ["unknown input 'pixels'", "'input' (FP32 [-1,4])"] },
        { "wrong datatype", Input(datatype: "INT32"), ["input 'input' has datatype INT32", "expects FP32"] },
        { "unknown datatype", Input(datatype: "FLOAT"), ["input 'input'", "'FLOAT' is not one of"] },
        { "wrong shape", Input(shape: "[1,5]", data: "[1,2,3,4,5]"), ["input 'input' has shape [1,5]", "expects [-1,4]", "dimension 1 must be 4"] },
        { "wrong rank", Input(shape: "[4]"), ["input 'input' has shape [4] (rank 1)", "expects [-1,4] (rank 2)"] },
        { "element count", Input(shape: "[2,4]"), ["input 'input'", "holds 4 values but shape [2,4] needs 8"] },
        { "data not matching the shape", Input(data: "[[1,2],[3,\"x\"]]"), ["input 'input'", "element 3 is \"x\", expected a number"] },
        { "ragged nesting", Input(data: "[[1,2,3],[4]]"), ["input 'input'", "\"data\" is ragged: data[1] has length 1 where its siblings have length 3"] },
        { "ragged deeper down", Input(data: "[[[1],[2]],[[3,4]]]"), ["input 'input'", "\"data\" is ragged: data[1] has length 1 where its siblings have length 2"] },
        { "an array beside values", Input(data: "[1,[2,3],4]"), ["input 'input'", "\"data\" is ragged: data[1] is an array where its siblings are values"] },
        { "a value beside arrays", Input(data: "[[1,2],[3],4]"), ["input 'input'", "\"data\" is ragged: data[1] has length 1"] },
        { "a value among arrays", Input(data: "[[1,2],[3,4],5]"), ["input 'input'", "\"data\" is ragged: data[2] is a number where its siblings are arrays"] },
        { "FP32 past its range", Input(data: "[1,2,3,1e39]"), ["input 'input'", "element 3 is 1e39, expected a number in the range of FP32 (±3.4028235E+38"] },
        { "past double's range", Input(data: "[1,-1e400,3,4]"), ["input 'input'", "element 1 is -1e400, expected a number in the range of FP32"] },
        { "negative dimension", Input(shape: "[-1,4]"), ["input 'input'", "non-negative"] },
        { "over the element limit", Input(shape: "[300,4]", data: "[]"), ["input 'input' has 1200 elements", "limit of 1000 elements"] },
        { "malformed json", """{"inputs":[{"name":"input",""", ["malformed JSON"] },
        { "an empty body", "", ["the request body is empty: a JSON object is required"] },
        { "only white space", " \r\n ", ["the request body is empty: a JSON object is required"] },
        { "a key given twice", """{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","datatype":"INT32","data":[1,2,3,4]}]}""", ["malformed JSON", "'datatype'"] },
        { "no inputs", """{"id":"x"}""", ["\"inputs\""] },
        { "missing input", """{"inputs":[]}""", ["input 'input' is missing", "FP32 [-1,4]"] },
        { "data not an array", Input(data: "\"abc\""), ["input 'input'", "must be an array"] },
        { "unknown output", """{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"outputs":[{"name":"probs"}]}""",
        ["unknown output 'probs'", "'output'"] },
    };

    [Theory]
    [MemberData(nameof(JsonCases))]
    public async Task Bad_json_requests_get_400_naming_the_input_and_the_queue_keeps_working(string problem, string body, string[] expected)
    {
        var (status, error, _) = await Client.PostJsonAsync("/v2/models/m/infer", body);
        Assert.True(status == HttpStatusCode.BadRequest, $"{problem}: {(int)status} {error}");
        var message = error.GetProperty("error").GetString()!;
        foreach (var part in expected)
        {
            Assert.Contains(part, message);
        }

        await AssertStillServes();
    }

    [Fact]
    public async Task The_largest_fp32_as_written_and_infinities_by_name_are_taken()
    {
        // 3.4028235E+38 is float.MaxValue as .NET writes it, a little above it as a double: it rounds to it, not past.
        var (status, ok, _) = await Client.PostJsonAsync("/v2/models/m/infer", Input(data: "[3.4028235E+38,-3.4028235E+38,\"Infinity\",\"-Infinity\"]"));
        Assert.Equal(HttpStatusCode.OK, status);
        var data = ok.GetProperty("outputs")[0].GetProperty("data");
        Assert.Equal(float.MaxValue, data[0].GetSingle());
        Assert.Equal(-float.MaxValue, data[1].GetSingle());
        Assert.Equal("Infinity", data[2].GetString());
        Assert.Equal("-Infinity", data[3].GetString());
    }

    [Theory]
    [InlineData("[[1,2],[3,4]]")]
    [InlineData("[[[1]],[[2]],[[3]],[[4]]]")]
    [InlineData("[[1,2,3,4]]")]
    public async Task Data_nested_as_any_box_of_the_right_count_is_taken_in_row_major_order(string data)
    {
        // Triton and numpy's reshape take any rectangular nesting whose count matches the shape; only ragged data is refused.
        var (status, ok, _) = await Client.PostJsonAsync("/v2/models/m/infer", Input(data: data));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("[1,2,3,4]", ok.GetProperty("outputs")[0].GetProperty("data").GetRawText());
    }

    private async Task AssertStillServes()
    {
        var (status, ok, _) = await Client.PostJsonAsync("/v2/models/m/infer", Input());
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("[1,2,3,4]", ok.GetProperty("outputs")[0].GetProperty("data").GetRawText());
    }

    public static TheoryData<string, int, int[], int, string[]> BinaryCases() => new()
    {
        // header length, binary_data_size values, bytes actually sent after the header
        { "sizes add up to more than sent", 0, [16], 12, ["12 bytes after the JSON header", "add up to 16", "'input': 16"] },
        { "sizes add up to less than sent", 0, [16], 20, ["20 bytes after the JSON header", "add up to 16"] },
        { "size not matching the shape", 0, [12], 12, ["input 'input': binary_data_size is 12 bytes", "needs 16 bytes"] },
        { "header longer than the body", 5000, [16], 16, ["Inference-Header-Content-Length is 5000", "only"] },
    };

    [Theory]
    [MemberData(nameof(BinaryCases))]
    public async Task Binary_headers_whose_sizes_do_not_add_up_get_400(string problem, int headerLength, int[] sizes, int sent, string[] expected)
    {
        var json = Encoding.UTF8.GetBytes($$$"""{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":{{{sizes[0]}}}}}]}""");
        var body = new byte[json.Length + sent];
        json.CopyTo(body, 0);
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.Add("Inference-Header-Content-Length", (headerLength > 0 ? headerLength : json.Length).ToString(System.Globalization.CultureInfo.InvariantCulture));
        var response = await Client.PostAsync("/v2/models/m/infer", content);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{problem}: {(int)response.StatusCode} {text}");
        foreach (var part in expected)
        {
            Assert.Contains(part, text);
        }

        await AssertStillServes();
    }

    [Fact]
    public async Task Binary_data_without_the_header_length_is_refused()
    {
        var (status, error, _) = await Client.PostJsonAsync("/v2/models/m/infer",
            """{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("input 'input' has binary_data_size but the request has no Inference-Header-Content-Length", error.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_body_over_the_limit_gets_400_with_the_limit_whether_or_not_its_length_is_announced()
    {
        var big = InferenceHost.InferJson("input", "FP32", [1, 4], new JsonArray(1, 2, 3, 4)) + new string(' ', SmallLimitsFixture.MaxBody);
        var (status, error, _) = await Client.PostJsonAsync("/v2/models/m/infer", big);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains($"over the limit of {SmallLimitsFixture.MaxBody} bytes", error.GetProperty("error").GetString());

        // Chunked: no Content-Length, the server counts as it reads.
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/m/infer") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        var response = await Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("over the limit", await response.Content.ReadAsStringAsync());
        await AssertStillServes();
    }

    [Fact]
    public async Task Unknown_models_get_404_and_the_predict_endpoint_uses_the_api_error_shape()
    {
        var (status, error, _) = await Client.PostJsonAsync("/v2/models/nope/infer", Input());
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("nope", error.GetProperty("error").GetString());

        var (predict, body, _) = await Client.PostJsonAsync("/api/v1/models/m/predict", """{"inputs":{"input":[[1,2,3]]}}""");
        Assert.Equal(HttpStatusCode.BadRequest, predict);
        Assert.Equal("invalid_input", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("input 'input'", body.GetProperty("error").GetProperty("message").GetString());
    }

    public static TheoryData<string, string[]> GrpcCases() => new()
    {
        { "name", ["unknown input 'pixels'"] },
        { "datatype", ["input 'input' has datatype INT32", "expects FP32"] },
        { "shape", ["input 'input' has shape [1,5]", "dimension 1 must be 4"] },
        { "raw size", ["input 'input': raw_input_contents[0] is 12 bytes", "needs 16 bytes"] },
        { "contents count", ["input 'input': fp32_contents holds 3 values but the shape needs 4"] },
        { "elements", ["input 'input' has 1200 elements", "limit of 1000"] },
        { "raw count", ["raw_input_contents has 2 entries but the request has 1 inputs"] },
        { "malformed", ["malformed"] },
    };

    [Theory]
    [MemberData(nameof(GrpcCases))]
    public async Task Bad_grpc_requests_get_invalid_argument_naming_the_input(string problem, string[] expected)
    {
        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var request = new ModelInferRequest { ModelName = "m" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32" };
        input.Shape.Add([1, 4]);
        request.Inputs.Add(input);
        var raw = ByteString.CopyFrom(InferenceHost.Floats([1, 2, 3, 4]));
        switch (problem)
        {
            case "name": input.Name = "pixels"; request.RawInputContents.Add(raw); break;
            case "datatype": input.Datatype = "INT32"; request.RawInputContents.Add(raw); break;
            case "shape": input.Shape[1] = 5; request.RawInputContents.Add(ByteString.CopyFrom(new byte[20])); break;
            case "raw size": request.RawInputContents.Add(ByteString.CopyFrom(new byte[12])); break;
            case "contents count": input.Contents = new InferTensorContents(); input.Contents.Fp32Contents.Add([1, 2, 3]); break;
            case "elements": input.Shape[0] = 300; request.RawInputContents.Add(ByteString.CopyFrom(new byte[4800])); break;
            case "raw count": request.RawInputContents.Add(raw); request.RawInputContents.Add(raw); break;
        }

        var message = problem == "malformed" ? [0x2a, 0xff, 0xff, 0x01] : request.ToByteArray();
        var result = await grpc.CallRawAsync("ModelInfer", [message], ModelInferResponse.Parser);
        Assert.True(result.Status == 3, $"{problem}: status {result.Status} {result.Message}");
        foreach (var part in expected)
        {
            Assert.Contains(part, result.Message);
        }

        await AssertStillServes();
    }
}
