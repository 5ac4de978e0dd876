using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Core.TensorServing;

namespace Maas.Server.Tests.TensorInference;

/// <summary>The Open Inference Protocol v2 over REST against the real server: metadata, every datatype, binary data, versions, extensions.</summary>
public sealed class V2RestTests(ProtocolFixture fixture) : IClassFixture<ProtocolFixture>
{
    private HttpClient Client => fixture.Server.Client;

    public static TheoryData<TensorDataType> Types() => new(TestModels.IdentityTypes);

    [Fact]
    public async Task Server_health_and_metadata_follow_the_protocol()
    {
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync("/v2/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync("/v2/health/ready")).StatusCode);
        var (status, body) = await Client.GetJsonAsync("/v2");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("maas", body.GetProperty("name").GetString());
        var extensions = body.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()).ToArray();
        Assert.Contains("binary_tensor_data", extensions);
        Assert.Contains("model_repository", extensions);
        Assert.Contains("statistics", extensions);
    }

    [Fact]
    public async Task Model_metadata_and_readiness_are_served_per_model_and_per_version()
    {
        var (status, body) = await Client.GetJsonAsync("/v2/models/pair");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("pair", body.GetProperty("name").GetString());
        Assert.Equal("onnxruntime_onnx", body.GetProperty("platform").GetString());
        Assert.Equal(["1"], body.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
        var input = body.GetProperty("inputs")[0];
        Assert.Equal(("x", "FP32", "[-1,3]"), (input.GetProperty("name").GetString(), input.GetProperty("datatype").GetString(), input.GetProperty("shape").GetRawText()));
        Assert.Equal(["copy", "negated"], body.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()));

        var (v2Status, v2) = await Client.GetJsonAsync("/v2/models/versioned/versions/2");
        Assert.Equal(HttpStatusCode.OK, v2Status);
        Assert.Equal(["1", "2"], v2.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));

        var (readyStatus, ready) = await Client.GetJsonAsync("/v2/models/pair/ready");
        Assert.Equal(HttpStatusCode.OK, readyStatus);
        Assert.True(ready.GetProperty("ready").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync("/v2/models/versioned/versions/1/ready")).StatusCode);

        var (missing, error) = await Client.GetJsonAsync("/v2/models/no-such-model");
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Contains("no-such-model", error.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync("/v2/models/pair/versions/9")).StatusCode);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public async Task Every_datatype_round_trips_as_json_nested_and_flat(TensorDataType type)
    {
        var values = TestModels.JsonValues(type);
        var nested = new JsonArray(
            new JsonArray(values.Take(3).Select(v => JsonValue.Create(v)).ToArray<JsonNode?>()),
            new JsonArray(values.Skip(3).Select(v => JsonValue.Create(v)).ToArray<JsonNode?>()));
        var flat = new JsonArray(values.Select(v => JsonValue.Create(v)).ToArray<JsonNode?>());
        foreach (var data in new JsonNode[] { nested, flat })
        {
            var body = InferenceHost.InferJson("input", type.Name(), [2, 3], data.DeepClone(), id: "req-" + type.Name());
            var (status, response, _) = await Client.PostJsonAsync($"/v2/models/{ProtocolFixture.IdentityModel(type)}/infer", body);
            Assert.True(status == HttpStatusCode.OK, response.ToString());
            Assert.Equal("req-" + type.Name(), response.GetProperty("id").GetString());
            Assert.Equal(ProtocolFixture.IdentityModel(type), response.GetProperty("model_name").GetString());
            Assert.Equal("1", response.GetProperty("model_version").GetString());
            var output = response.GetProperty("outputs")[0];
            Assert.Equal(("output", type.Name(), "[2,3]"), (output.GetProperty("name").GetString(), output.GetProperty("datatype").GetString(),
                output.GetProperty("shape").GetRawText()));
            var got = output.GetProperty("data").EnumerateArray().ToArray();
            Assert.Equal(values.Length, got.Length);
            for (var i = 0; i < values.Length; i++)
            {
                AssertSame(type, values[i], got[i]);
            }
        }
    }

    private static void AssertSame(TensorDataType type, object expected, JsonElement actual)
    {
        switch (type)
        {
            case TensorDataType.FP16 or TensorDataType.BF16 or TensorDataType.FP32:
                Assert.Equal((float)Convert.ToDouble(expected, CultureInfo.InvariantCulture), (float)actual.GetDouble());
                break;
            case TensorDataType.FP64:
                Assert.Equal(Convert.ToDouble(expected, CultureInfo.InvariantCulture), actual.GetDouble());
                break;
            case TensorDataType.Bytes:
                Assert.Equal((string)expected, actual.GetString());
                break;
            default:
                Assert.Equal(JsonSerializer.Serialize(expected), actual.GetRawText());
                break;
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public async Task Every_datatype_round_trips_as_binary_data_in_both_directions(TensorDataType type)
    {
        var raw = TestModels.RawValues(type);
        var json = $$$"""{"id":"b","inputs":[{"name":"input","shape":[2,3],"datatype":"{{{type.Name()}}}","parameters":{"binary_data_size":{{{raw.Length}}}}}]""" +
            $$$""","parameters":{"binary_data_output":true}}""";
        var response = await Client.PostAsync($"/v2/models/{ProtocolFixture.IdentityModel(type)}/infer", InferenceHost.BinaryBody(json, raw));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (header, binary) = await InferenceHost.ReadBinaryResponseAsync(response);
        var output = header.GetProperty("outputs")[0];
        Assert.False(output.TryGetProperty("data", out _));
        Assert.Equal(raw.Length, output.GetProperty("parameters").GetProperty("binary_data_size").GetInt32());
        Assert.Equal(raw, binary);
    }

    [Fact]
    public async Task Requested_outputs_choose_what_comes_back_and_how()
    {
        var x = InferenceHost.Floats([1, 2, 3]);
        var json = """
            {"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":12}}],
             "outputs":[{"name":"negated","parameters":{"binary_data":true}},{"name":"copy"}]}
            """;
        var response = await Client.PostAsync("/v2/models/pair/infer", InferenceHost.BinaryBody(json, x));
        var (header, binary) = await InferenceHost.ReadBinaryResponseAsync(response);
        var outputs = header.GetProperty("outputs");
        Assert.Equal(["negated", "copy"], outputs.EnumerateArray().Select(o => o.GetProperty("name").GetString()));
        Assert.Equal(InferenceHost.Floats([-1, -2, -3]), binary);
        Assert.Equal("[1,2,3]", outputs[1].GetProperty("data").GetRawText());

        var (status, only, _) = await Client.PostJsonAsync("/v2/models/pair/infer",
            """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}],"outputs":[{"name":"copy"}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["copy"], only.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task Parameters_are_accepted_and_the_id_is_echoed()
    {
        var body = InferenceHost.InferJson("x", "FP32", [1, 3], new JsonArray(1, 2, 3), id: "abc-123",
            parameters: new JsonObject { ["custom"] = "value", ["priority"] = 1, ["flag"] = true, ["timeout"] = 5_000_000 });
        var (status, response, _) = await Client.PostJsonAsync("/v2/models/pair/infer", body);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("abc-123", response.GetProperty("id").GetString());
    }

    [Fact]
    public async Task Names_aliases_and_version_paths_resolve_through_the_registry()
    {
        async Task<float> FirstOutput(string path)
        {
            var (status, body, _) = await Client.PostJsonAsync(path, InferenceHost.InferJson("input", "FP32", [1, 3], new JsonArray(1, 2, 3)));
            Assert.True(status == HttpStatusCode.OK, $"{path}: {body}");
            return body.GetProperty("outputs")[0].GetProperty("data")[0].GetSingle();
        }

        Assert.Equal(-1, await FirstOutput("/v2/models/versioned/infer")); // latest version
        Assert.Equal(1, await FirstOutput("/v2/models/versioned:stable/infer"));
        Assert.Equal(1, await FirstOutput("/v2/models/versioned/versions/1/infer"));
        Assert.Equal(-1, await FirstOutput("/v2/models/versioned/versions/2/infer"));
        Assert.Equal(1, await FirstOutput("/v2/models/versioned/versions/stable/infer"));
        var (missing, error, _) = await Client.PostJsonAsync("/v2/models/versioned:nope/infer", InferenceHost.InferJson("input", "FP32", [1, 3], new JsonArray(1, 2, 3)));
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Contains("nope", error.GetProperty("error").GetString());
    }

    [Fact]
    public async Task The_simple_predict_endpoint_infers_shapes_and_returns_nested_arrays()
    {
        var (status, body, _) = await Client.PostJsonAsync("/api/v1/models/pair/predict", """{"inputs":{"x":[[1,2,3],[4,5,6]]}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("[[-1,-2,-3],[-4,-5,-6]]", body.GetProperty("outputs").GetProperty("negated").GetRawText());
        Assert.Equal("[[1,2,3],[4,5,6]]", body.GetProperty("outputs").GetProperty("copy").GetRawText());

        // One example without the batch dimension comes back without it.
        var (single, one, _) = await Client.PostJsonAsync("/api/v1/models/versioned/versions/1/predict", """{"inputs":{"input":[7,8,9]}}""");
        Assert.Equal(HttpStatusCode.OK, single);
        Assert.Equal("[7,8,9]", one.GetProperty("outputs").GetProperty("output").GetRawText());
        Assert.Equal("1", one.GetProperty("model_version").GetString());

        var (ragged, error, _) = await Client.PostJsonAsync("/api/v1/models/pair/predict", """{"inputs":{"x":[[1,2,3],[4,5]]}}""");
        Assert.Equal(HttpStatusCode.BadRequest, ragged);
        Assert.Contains("'x'", error.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task The_repository_extension_lists_loads_and_unloads()
    {
        var model = ProtocolFixture.IdentityModel(TensorDataType.Int8);
        var (status, _, _) = await Client.PostJsonAsync($"/v2/models/{model}/infer", InferenceHost.InferJson("input", "INT8", [1, 3], new JsonArray(1, 2, 3)));
        Assert.Equal(HttpStatusCode.OK, status);
        var (indexStatus, index, _) = await Client.PostJsonAsync("/v2/repository/index", "{}");
        Assert.Equal(HttpStatusCode.OK, indexStatus);
        var entry = index.EnumerateArray().Single(e => e.GetProperty("name").GetString() == model);
        Assert.Equal(("1", "READY"), (entry.GetProperty("version").GetString(), entry.GetProperty("state").GetString()));

        Assert.Equal(HttpStatusCode.OK, (await Client.PostAsync($"/v2/repository/models/{model}/unload", null)).StatusCode);
        var (readyOnly, _, _) = await Client.PostJsonAsync("/v2/repository/index", """{"ready": true}""");
        var (_, after, _) = await Client.PostJsonAsync("/v2/repository/index", """{"ready": true}""");
        Assert.Equal(HttpStatusCode.OK, readyOnly);
        Assert.DoesNotContain(after.EnumerateArray(), e => e.GetProperty("name").GetString() == model);
        var (refused, error, _) = await Client.PostJsonAsync($"/v2/models/{model}/infer", InferenceHost.InferJson("input", "INT8", [1, 3], new JsonArray(1, 2, 3)));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused);
        Assert.Contains("unloaded", error.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, (await Client.GetAsync($"/v2/models/{model}/ready")).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await Client.PostAsync($"/v2/repository/models/{model}/load", null)).StatusCode);
        var (again, _, _) = await Client.PostJsonAsync($"/v2/models/{model}/infer", InferenceHost.InferJson("input", "INT8", [1, 3], new JsonArray(1, 2, 3)));
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.PostAsync("/v2/repository/models/no-such-model/load", null)).StatusCode);
    }

    [Fact]
    public async Task Statistics_follow_the_extension_shape()
    {
        const string model = "counted";
        for (var i = 0; i < 3; i++)
        {
            var (status, _, _) = await Client.PostJsonAsync($"/v2/models/{model}/infer", InferenceHost.InferJson("input", "INT32", [2, 3], new JsonArray(1, 2, 3, 4, 5, 6)));
            Assert.Equal(HttpStatusCode.OK, status);
        }

        var (statsStatus, stats) = await Client.GetJsonAsync($"/v2/models/{model}/versions/1/stats");
        Assert.Equal(HttpStatusCode.OK, statsStatus);
        var s = stats.GetProperty("model_stats").EnumerateArray().Single();
        Assert.Equal((model, "1"), (s.GetProperty("name").GetString(), s.GetProperty("version").GetString()));
        Assert.Equal(6, s.GetProperty("inference_count").GetInt64());
        Assert.Equal(3, s.GetProperty("execution_count").GetInt64());
        var inference = s.GetProperty("inference_stats");
        foreach (var key in new[] { "success", "fail", "queue", "compute_input", "compute_infer", "compute_output" })
        {
            Assert.True(inference.GetProperty(key).TryGetProperty("count", out _), key);
            Assert.True(inference.GetProperty(key).TryGetProperty("ns", out _), key);
        }

        Assert.Equal(3, inference.GetProperty("success").GetProperty("count").GetInt64());
        Assert.True(inference.GetProperty("compute_infer").GetProperty("ns").GetInt64() > 0);
        var batch = s.GetProperty("batch_stats").EnumerateArray().Single();
        Assert.Equal(2, batch.GetProperty("batch_size").GetInt64());
        Assert.Equal(3, batch.GetProperty("compute_infer").GetProperty("count").GetInt64());

        var (allStatus, all) = await Client.GetJsonAsync("/v2/models/stats");
        Assert.Equal(HttpStatusCode.OK, allStatus);
        Assert.Contains(all.GetProperty("model_stats").EnumerateArray(), m => m.GetProperty("name").GetString() == model);
    }
}
