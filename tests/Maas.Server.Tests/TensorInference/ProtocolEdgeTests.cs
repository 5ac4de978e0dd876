using System.Net;
using Google.Protobuf;
using Maas.Server.TensorInference.Grpc.Protocol;

namespace Maas.Server.Tests.TensorInference;

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

    // "\ud800" is valid JSON but no text: reading it as a string threw InvalidOperationException, a 500.
    public static TheoryData<string, string> LoneSurrogates() => new()
    {
        { "/v2/models/m/infer", """{"id":"\ud800","inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}""" },
        { "/v2/models/m/infer", """{"inputs":[{"name":"in\ud800put","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}""" },
        { "/v2/models/m/infer", Body(""","parameters":{"\ud800":1}""") },
        { "/v2/models/m/infer", Body(""","outputs":[{"name":"\udc00"}]""") },
        { "/v2/repository/models/m/load", """{"parameters":{"version":"\ud800"}}""" },
        { "/api/v1/models/m/predict", """{"id":"\ud800","inputs":{"input":[[1,2,3,4]]}}""" },
        { "/api/v1/models/m/predict", """{"inputs":{"in\ud800put":[[1,2,3,4]]}}""" },
    };

    [Theory]
    [MemberData(nameof(LoneSurrogates))]
    public async Task A_string_with_a_lone_surrogate_escape_gets_400(string path, string body)
    {
        var (status, error, _) = await Client.PostJsonAsync(path, body);
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {error}");
        var message = error.GetProperty("error") is { ValueKind: System.Text.Json.JsonValueKind.Object } api
            ? api.GetProperty("message").GetString()
            : error.GetProperty("error").GetString();
        Assert.Contains("cannot be read as text", message);
    }

    [Fact]
    public async Task Predict_outputs_that_are_not_names_get_400()
    {
        var (status, error, _) = await Client.PostJsonAsync("/api/v1/models/m/predict", """{"inputs":{"input":[[1,2,3,4]]},"outputs":[5]}""");
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {error}");
        Assert.Equal("invalid_input", error.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("\"outputs\" must list output names as strings, not a number", error.GetProperty("error").GetProperty("message").GetString());
    }

    // "outputs":"output" returned every output and "id":7 was dropped: both silently, unlike /v2 infer.
    [Theory]
    [InlineData("""
        ,"outputs":"output"
        """, "\"outputs\" must be an array of output names, not a string")]
    [InlineData(""","id":7""", "\"id\" must be a string, not a number")]
    public async Task Predict_outputs_or_id_of_the_wrong_type_get_400(string rest, string expected)
    {
        var (status, error, _) = await Client.PostJsonAsync("/api/v1/models/m/predict", """{"inputs":{"input":[[1,2,3,4]]}""" + rest + "}");
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {error}");
        Assert.Equal("invalid_input", error.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains(expected, error.GetProperty("error").GetProperty("message").GetString());
    }

    // Repository bodies of the wrong type were ignored: a load with "parameters":5 loaded everything's latest
    // version (200), an index with "ready":"yes" listed every version, and Triton's config override was dropped.
    [Theory]
    [InlineData("/v2/repository/models/m/load", """{"parameters":5}""", "\"parameters\" must be an object, not a number")]
    [InlineData("/v2/repository/models/m/unload", """{"parameters":[]}""", "\"parameters\" must be an object, not an array")]
    [InlineData("/v2/repository/models/m/load", """{"parameters":{"config":"{}"}}""", "parameter \"config\" is not supported")]
    [InlineData("/v2/repository/index", """{"ready":"yes"}""", "\"ready\" must be true or false, not \"yes\"")]
    [InlineData("/v2/repository/index", "[]", "the request body must be a JSON object, not an array")]
    public async Task Repository_bodies_of_the_wrong_type_get_400(string path, string body, string expected)
    {
        var (status, error, _) = await Client.PostJsonAsync(path, body);
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {error}");
        Assert.Contains(expected, error.GetProperty("error").GetString());
    }

    // A ModelInferRequest field sent with another wire type (raw_input_contents as a varint) went to the parser's
    // unknown fields: dropped, and the call answered OK as if it had not been sent.
    [Theory]
    [InlineData(new byte[] { 7 << 3, 1 }, "raw_input_contents")] // field 7 as a varint
    [InlineData(new byte[] { (3 << 3) | 5, 1, 2, 3, 4 }, "id")] // field 3 as fixed32
    public async Task A_model_infer_field_of_the_wrong_wire_type_gets_invalid_argument(byte[] stray, string field)
    {
        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var result = await grpc.CallRawAsync("ModelInfer", [[.. Request().ToByteArray(), .. stray]], ModelInferResponse.Parser);
        Assert.True(result.Status == 3, $"status {result.Status} {result.Message}"); // INVALID_ARGUMENT
        Assert.Contains($"field {stray[0] >> 3} ({field})", result.Message);
    }

    // Inside the request's messages the parser dropped a field of the wrong wire type the same way (an input's shape
    // as fixed32, a parameter's bool as 64 bits): the call answered OK without it.
    public static TheoryData<string, byte[], string, string> NestedStrays() => new()
    {
        { "input", [(3 << 3) | 5, 1, 0, 0, 0], "field 3 (inputs[0].shape) has wire type 5", "a varint (wire type 0) or packed (wire type 2)" },
        { "input", [2 << 3, 1], "field 2 (inputs[0].datatype) has wire type 0", "length-delimited (wire type 2)" },
        { "input", [5 << 3, 1], "field 5 (inputs[0].contents) has wire type 0", "length-delimited (wire type 2)" },
        { "input", Field(4, [.. Field(1, "k"u8.ToArray()), .. Field(2, [(1 << 3) | 1, 1, 0, 0, 0, 0, 0, 0, 0])]),
        "field 1 (inputs[0].parameters[\"k\"].bool_param) has wire type 1", "a varint (wire type 0)" },
        { "contents", [6 << 3, 1], "field 6 (inputs[0].contents.fp32_contents) has wire type 0", "32-bit (wire type 5) or packed (wire type 2)" },
        { "output", [1 << 3, 1], "field 1 (outputs[0].name) has wire type 0", "length-delimited (wire type 2)" },
        { "request", Field(4, [.. Field(1, "priority"u8.ToArray()), .. Field(2, Field(2, [1]))]), "field 2 (parameters[\"priority\"].int64_param) has wire type 2",
        "a varint (wire type 0)" },
    };

    [Theory]
    [MemberData(nameof(NestedStrays))]
    public async Task A_nested_field_of_the_wrong_wire_type_gets_invalid_argument_naming_its_path(string where, byte[] stray, string field, string expected)
    {
        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var result = await grpc.CallRawAsync("ModelInfer", [TypedRequest(where, stray)], ModelInferResponse.Parser);
        Assert.True(result.Status == 3, $"status {result.Status} {result.Message}"); // INVALID_ARGUMENT
        Assert.StartsWith($"malformed ModelInferRequest: {field} at byte ", result.Message);
        Assert.EndsWith($", but it is {expected}", result.Message);

        // Without the stray bytes the same request is served.
        var clean = await grpc.CallRawAsync("ModelInfer", [TypedRequest(where, [])], ModelInferResponse.Parser);
        Assert.True(clean.Status == 0, $"status {clean.Status} {clean.Message}");
    }

    // The check knows the other legal encodings: repeated numbers one by one instead of packed are served.
    [Fact]
    public async Task Unpacked_shape_and_contents_are_served()
    {
        byte[] input =
        [
            .. Field(1, "input"u8.ToArray()), .. Field(2, "FP32"u8.ToArray()),
            3 << 3, 1, 3 << 3, 4, // shape 1, 4 as two varints
            .. Field(5, [.. new float[] { 1, 2, 3, 4 }.SelectMany(f => (byte[])[(6 << 3) | 5, .. BitConverter.GetBytes(f)])]),
        ];
        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var result = await grpc.CallRawAsync("ModelInfer", [[.. new ModelInferRequest { ModelName = "m" }.ToByteArray(), .. Field(5, input)]], ModelInferResponse.Parser);
        Assert.True(result.Status == 0, $"status {result.Status} {result.Message}");
        Assert.Equal(InferenceHost.Floats([1, 2, 3, 4]), result.Single.RawOutputContents[0].ToByteArray());
    }

    // The other calls' parsers dropped such fields too: a name as a varint asked about the model "".
    [Fact]
    public async Task A_field_of_the_wrong_wire_type_in_another_call_gets_invalid_argument()
    {
        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var ready = await grpc.CallRawAsync("ModelReady", [[.. new ModelReadyRequest { Name = "m" }.ToByteArray(), 1 << 3, 1]], ModelReadyResponse.Parser);
        Assert.True(ready.Status == 3, $"status {ready.Status} {ready.Message}");
        Assert.Contains("malformed ModelReadyRequest: field 1 (name) has wire type 0", ready.Message);

        byte[] version = Field(3, [.. Field(1, "version"u8.ToArray()), .. Field(2, Field(2, [1]))]); // int64_param as length-delimited
        var load = await grpc.CallRawAsync("RepositoryModelLoad", [[.. new RepositoryModelLoadRequest { ModelName = "m" }.ToByteArray(), .. version]],
            RepositoryModelLoadResponse.Parser);
        Assert.True(load.Status == 3, $"status {load.Status} {load.Message}");
        Assert.Contains("field 2 (parameters[\"version\"].int64_param) has wire type 2", load.Message);
    }

    // gRPC's RepositoryModelLoad ignored Triton's config override (and file: contents) that REST refuses: it loaded the
    // registry's model as if the override applied. Both now answer with the same message.
    [Theory]
    [InlineData("RepositoryModelLoad", "load", "config", """{"max_batch_size": 8}""")]
    [InlineData("RepositoryModelLoad", "load", "file:1/model.onnx", "b25ueA==")]
    [InlineData("RepositoryModelUnload", "unload", "config", "{}")]
    public async Task Repository_config_and_file_parameters_get_the_same_refusal_over_grpc_as_over_rest(string method, string route, string parameter, string value)
    {
        var (status, error, _) = await Client.PostJsonAsync($"/v2/repository/models/m/{route}",
            System.Text.Json.JsonSerializer.Serialize(new { parameters = new Dictionary<string, string> { [parameter] = value } }));
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {error}");
        var rest = error.GetProperty("error").GetString();

        var parameters = new Google.Protobuf.Collections.MapField<string, ModelRepositoryParameter>
        {
            [parameter] = parameter == "config" ? new ModelRepositoryParameter { StringParam = value } : new ModelRepositoryParameter { BytesParam = ByteString.FromBase64(value) },
        };
        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var (code, message) = method == "RepositoryModelLoad"
            ? await grpc.CallAsync(method, new RepositoryModelLoadRequest { ModelName = "m", Parameters = { parameters } }, RepositoryModelLoadResponse.Parser) is var l
                ? (l.Status, l.Message) : default
            : await grpc.CallAsync(method, new RepositoryModelUnloadRequest { ModelName = "m", Parameters = { parameters } }, RepositoryModelUnloadResponse.Parser) is var u
                ? (u.Status, u.Message) : default;
        Assert.True(code == 3, $"status {code} {message}"); // INVALID_ARGUMENT
        Assert.Equal(rest, message);
        Assert.Contains($"parameter \"{parameter}\" is not supported", message);
    }

    // Triton's HTTP clients compress request bodies (request_compression_algorithm "gzip" or "deflate"); the JSON
    // header length then counts decoded bytes. Such bodies were read as they came: "malformed JSON ... '0x1F'".
    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    public async Task Compressed_request_bodies_are_decoded(string encoding)
    {
        var json = System.Text.Encoding.UTF8.GetBytes(Body(""));
        var (status, body) = await PostEncodedAsync(GrpcTestClient.Deflate(json, encoding), encoding, headerLength: null);
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {body}");
        Assert.Contains("\"data\":[1,2,3,4]", body);

        var header = System.Text.Encoding.UTF8.GetBytes("""{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}""");
        var binary = header.Concat(InferenceHost.Floats([5, 6, 7, 8])).ToArray();
        (status, body) = await PostEncodedAsync(GrpcTestClient.Deflate(binary, encoding), encoding, header.Length);
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {body}");
        Assert.Contains("\"data\":[5,6,7,8]", body);
    }

    [Theory]
    [InlineData("br", "Content-Encoding 'br' is not supported")]
    [InlineData("gzip", "the request body is not valid gzip data")]
    public async Task Unsupported_or_corrupt_encodings_get_400(string encoding, string expected)
    {
        var (status, body) = await PostEncodedAsync(System.Text.Encoding.UTF8.GetBytes(Body("")), encoding, headerLength: null);
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {body}");
        Assert.Contains(expected, body);
    }

    private async Task<(HttpStatusCode Status, string Body)> PostEncodedAsync(byte[] bytes, string encoding, int? headerLength)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        content.Headers.ContentEncoding.Add(encoding);
        if (headerLength is { } h)
        {
            content.Headers.Add("Inference-Header-Content-Length", h.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var response = await Client.PostAsync("/v2/models/m/infer", content);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    // Sizes are not checked against the shape for BYTES; two of long.MaxValue overflowed their sum: a 500.
    [Theory]
    [InlineData("9223372036854775807", "binary_data_size is 9223372036854775807 bytes, over the limit of 65536 bytes for the whole body")]
    [InlineData("16.0", "binary_data_size must be a non-negative integer, not 16.0")]
    [InlineData("\"16\"", "binary_data_size must be a non-negative integer, not \"16\"")]
    public async Task Binary_data_sizes_that_are_huge_or_not_integers_get_400_saying_so(string size, string expected)
    {
        var json = ("""{"inputs":[{"name":"a","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":SIZE}},{"name":"b","shape":[1],"datatype":"BYTES","parameters":""" +
            """{"binary_data_size":SIZE}}]}""")
            .Replace("SIZE", size);
        var header = System.Text.Encoding.UTF8.GetBytes(json);
        var content = new ByteArrayContent([.. header, 1, 0, 0, 0, 120]);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
        content.Headers.Add("Inference-Header-Content-Length", header.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var response = await Client.PostAsync("/v2/models/m/infer", content);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode} {text}");
        Assert.Contains(expected, System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("POST", "/v2/models/m/infers")]
    [InlineData("GET", "/v2/models/m/infer")]
    [InlineData("PUT", "/v2/repository/index")]
    public async Task Unknown_v2_routes_get_404_in_the_protocols_error_shape(string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent(Body(""), System.Text.Encoding.UTF8, "application/json") };
        var response = await Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{(int)response.StatusCode} {text}");
        Assert.Contains($"no route {method} {path}", System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("error").GetString());
    }

    // Numbers that are no version (0, past int) were looked up as aliases: "model 'm' has no alias '0'".
    [Theory]
    [InlineData("0")]
    [InlineData("99999999999999999999")]
    public async Task A_version_number_that_cannot_exist_is_reported_as_a_missing_version(string version)
    {
        var (status, error) = await Client.GetJsonAsync($"/v2/models/m/versions/{version}");
        Assert.True(status == HttpStatusCode.NotFound, $"{(int)status} {error}");
        Assert.Equal($"model 'm' has no version {version}", error.GetProperty("error").GetString());

        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var request = Request();
        request.ModelVersion = version;
        var result = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
        Assert.Equal(5, result.Status); // NOT_FOUND
        Assert.Equal($"model 'm' has no version {version}", result.Message);
    }

    // Parameters the server acts on, of another type, were silently ignored: the caller's timeout or binary choice
    // did not apply and nothing said so.
    [Theory]
    [InlineData(""","parameters":{"timeout":"5000000"}""", "the request parameter \"timeout\" must be a non-negative integer (microseconds), not \"5000000\"")]
    [InlineData(""","parameters":{"timeout":1.5e6}""", "the request parameter \"timeout\" must be a non-negative integer (microseconds), not 1.5e6")]
    [InlineData(""","parameters":{"timeout":-1}""", "the request parameter \"timeout\" must be a non-negative integer (microseconds), not -1")]
    [InlineData(""","parameters":{"binary_data_output":1}""", "the request parameter \"binary_data_output\" must be true or false, not 1")]
    [InlineData(""","outputs":[{"name":"output","parameters":{"binary_data":"yes"}}]""", "output 'output': parameter \"binary_data\" must be true or false, not \"yes\"")]
    public async Task Parameters_the_server_acts_on_must_have_their_type(string rest, string expected)
    {
        var (status, error, _) = await Client.PostJsonAsync("/v2/models/m/infer", Body(rest));
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {error}");
        Assert.Equal(expected, error.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_grpc_timeout_parameter_that_is_not_an_integer_gets_invalid_argument()
    {
        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var request = Request();
        request.Parameters["timeout"] = new InferParameter { StringParam = "5000000" };
        var result = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
        Assert.Equal(3, result.Status); // INVALID_ARGUMENT
        Assert.Contains("the request parameter \"timeout\" must be a non-negative int64_param or a uint64_param", result.Message);
    }

    // A length-delimited field (payloads under 128 bytes: a one-byte length).
    private static byte[] Field(int number, byte[] payload) =>
        payload.Length < 128 ? [(byte)((number << 3) | 2), (byte)payload.Length, .. payload] : throw new ArgumentException("payload too long", nameof(payload));

    // A request for "m" with typed contents and a requested output, with stray bytes appended to one of its messages.
    private static byte[] TypedRequest(string where, byte[] stray)
    {
        var contents = new InferTensorContents();
        contents.Fp32Contents.Add([1, 2, 3, 4]);
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32" };
        input.Shape.Add([1, 4]);
        byte[] inputBytes = [.. input.ToByteArray(), .. Field(5, [.. contents.ToByteArray(), .. where == "contents" ? stray : []]), .. where == "input" ? stray : []];
        byte[] output = [.. new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "output" }.ToByteArray(), .. where == "output" ? stray : []];
        return [.. new ModelInferRequest { ModelName = "m" }.ToByteArray(), .. Field(5, inputBytes), .. Field(6, output), .. where == "request" ? stray : []];
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
