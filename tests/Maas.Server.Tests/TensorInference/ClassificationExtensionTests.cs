using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Maas.Core.Formats.Onnx;
using Maas.Core.Registry;
using Maas.Core.TensorServing;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.TensorInference;

/// <summary>
/// The classification extension (Triton's): an output asked for with "classification": K is answered as a BYTES tensor
/// [rows, K] of "value:index" (or "value:index:label") strings, the highest values first, over REST (JSON and binary)
/// and gRPC. The model is FP32 Identity [batch,4], so the scores are the inputs.
/// </summary>
public sealed class ClassificationExtensionTests(SmallLimitsFixture fixture) : IClassFixture<SmallLimitsFixture>
{
    private static string Body(string parameters, string data = "[[1,5,10,4],[4,3,2,1]]", string shape = "[2,4]") =>
        $$$"""{"inputs":[{"name":"input","shape":{{{shape}}},"datatype":"FP32","data":{{{data}}}}],"outputs":[{"name":"output","parameters":{{{parameters}}}}]}""";

    private static string[] Strings(JsonElement data) => data.EnumerateArray().Select(e => e.GetString()!).ToArray();

    [Fact]
    public async Task The_top_k_of_each_row_come_back_as_value_index_strings_over_rest()
    {
        var (status, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/m/infer", Body("""{"classification":2}"""));
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
        var output = ok.GetProperty("outputs")[0];
        Assert.Equal("output", output.GetProperty("name").GetString());
        Assert.Equal("BYTES", output.GetProperty("datatype").GetString());
        Assert.Equal("[2,2]", output.GetProperty("shape").GetRawText());
        Assert.Equal(["10:2", "5:1", "4:0", "3:1"], Strings(output.GetProperty("data")));

        // Without it, the same request answers the raw scores.
        var (_, raw, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/m/infer", Body("""{"binary_data":false}"""));
        Assert.Equal("FP32", raw.GetProperty("outputs")[0].GetProperty("datatype").GetString());
    }

    [Fact]
    public async Task K_past_the_classes_is_clamped_ties_keep_the_lower_index_and_fractions_keep_their_digits()
    {
        var (status, ok, _) = await fixture.Server.Client.PostJsonAsync(
            "/v2/models/m/infer", Body("""{"classification":9}""", data: "[[0.25,-1.5,0.25,\"NaN\"]]", shape: "[1,4]"));
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
        var output = ok.GetProperty("outputs")[0];
        Assert.Equal("[1,4]", output.GetProperty("shape").GetRawText());
        Assert.Equal(["0.25:0", "0.25:2", "-1.5:1", "NaN:3"], Strings(output.GetProperty("data")));
    }

    [Fact]
    public async Task Binary_outputs_carry_the_strings_as_binary_bytes()
    {
        var json = """{"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","parameters":{"binary_data_size":32}}],"outputs":[{"name":"output","parameters":""" +
            """{"classification":1,"binary_data":true}}]}""";
        using var content = InferenceHost.BinaryBody(json, InferenceHost.Floats([1, 5, 10, 4, 4, 3, 2, 1]));
        var response = await fixture.Server.Client.PostAsync("/v2/models/m/infer", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (header, binary) = await InferenceHost.ReadBinaryResponseAsync(response);
        var output = header.GetProperty("outputs")[0];
        Assert.Equal("BYTES", output.GetProperty("datatype").GetString());
        Assert.Equal("[2,1]", output.GetProperty("shape").GetRawText());
        Assert.Equal(binary.Length, output.GetProperty("parameters").GetProperty("binary_data_size").GetInt32());
        Assert.Equal(["10:2", "4:0"], ReadBytesElements(binary));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-2")]
    [InlineData("2.5")]
    [InlineData("\"3\"")]
    [InlineData("true")]
    public async Task A_count_that_is_not_a_positive_integer_gets_400(string count)
    {
        var (status, error, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/m/infer", Body($$"""{"classification":{{count}}}"""));
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {error}");
        Assert.Contains($"output 'output': parameter \"classification\" must be a positive integer", error.GetProperty("error").GetString());
        Assert.Contains($"not {count}", error.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData(TensorDataType.Bool, "[[true,false,true]]")]
    [InlineData(TensorDataType.Bytes, "[[\"a\",\"b\",\"c\"]]")]
    public async Task An_output_that_is_not_numeric_is_refused_before_the_model_runs_on_both_transports(TensorDataType type, string data)
    {
        var name = "cls-" + type.Name().ToLowerInvariant();
        await fixture.Server.RegisterAsync(name, TestModels.Identity(type));
        var expected = $"output 'output' is {type.Name()}: the classification extension ranks numeric outputs only";
        var body = $$$"""{"inputs":[{"name":"input","shape":[1,3],"datatype":"{{{type.Name()}}}","data":{{{data}}}}],"outputs":""" +
            $$$"""[{"name":"output","parameters":{"classification":1}}]}""";
        var (status, error, _) = await fixture.Server.Client.PostJsonAsync($"/v2/models/{name}/infer", body);
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {error}");
        Assert.Contains(expected, error.GetProperty("error").GetString());

        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var request = new ModelInferRequest { ModelName = name };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = type.Name(), Contents = new InferTensorContents() };
        input.Shape.Add([1, 3]);
        if (type == TensorDataType.Bool)
        {
            input.Contents.BoolContents.Add([true, false, true]);
        }
        else
        {
            input.Contents.BytesContents.Add(new[] { "a", "b", "c" }.Select(ByteString.CopyFromUtf8));
        }

        request.Inputs.Add(input);
        var output = new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "output" };
        output.Parameters["classification"] = new InferParameter { Int64Param = 1 };
        request.Outputs.Add(output);
        var unary = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
        Assert.Equal(3, unary.Status); // INVALID_ARGUMENT
        Assert.Contains(expected, unary.Message);
        var stream = await grpc.CallRawAsync("ModelStreamInfer", [request.ToByteArray()], ModelStreamInferResponse.Parser);
        Assert.True(stream.Status == 0, stream.Message);
        Assert.Contains(expected, Assert.Single(stream.Responses).ErrorMessage);

        // Refused with the request's other checks, before the model ran: no call counts as a successful inference.
        var (_, stats) = await fixture.Server.Client.GetJsonAsync($"/v2/models/{name}/stats");
        var version = Assert.Single(stats.GetProperty("model_stats").EnumerateArray());
        Assert.Equal(0, version.GetProperty("inference_stats").GetProperty("success").GetProperty("count").GetInt64());
        Assert.Equal(0, version.GetProperty("inference_count").GetInt64());

        // The same output without the parameter is answered.
        (status, var ok, _) = await fixture.Server.Client.PostJsonAsync($"/v2/models/{name}/infer",
            body.Replace("\"classification\":1", "\"binary_data\":false", StringComparison.Ordinal));
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
    }

    [Fact]
    public async Task Int64_values_past_doubles_precision_are_ranked_exactly()
    {
        await fixture.Server.RegisterAsync("cls-int64", TestModels.Identity(TensorDataType.Int64));
        var body = """{"inputs":[{"name":"input","shape":[1,3],"datatype":"INT64","data":[[9007199254740992,9007199254740993,-1]]}],"outputs":[{"name":"output","parameters":""" +
            """{"classification":2}}]}""";
        var (status, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-int64/infer", body);
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
        Assert.Equal(["9007199254740993:1", "9007199254740992:0"], Strings(ok.GetProperty("outputs")[0].GetProperty("data")));
    }

    public static TheoryData<TensorDataType> NumericTypes() => [.. TestModels.IdentityTypes.Where(t => t is not (TensorDataType.Bool or TensorDataType.Bytes))];

    [Theory]
    [MemberData(nameof(NumericTypes))]
    public async Task Every_numeric_datatype_is_ranked_in_its_own_type(TensorDataType type)
    {
        var name = "cls-rank-" + type.Name().ToLowerInvariant();
        await fixture.Server.RegisterAsync(name, TestModels.Identity(type));
        var values = TestModels.JsonValues(type);
        var body = InferenceHost.InferJson("input", type.Name(), [2, 3], JsonSerializer.SerializeToNode(values)!,
            outputs: [new System.Text.Json.Nodes.JsonObject { ["name"] = "output", ["parameters"] = new System.Text.Json.Nodes.JsonObject { ["classification"] = 1 } }]);
        var (status, ok, _) = await fixture.Server.Client.PostJsonAsync($"/v2/models/{name}/infer", body);
        Assert.True(status == HttpStatusCode.OK, $"{type}: {(int)status} {ok}");
        var output = ok.GetProperty("outputs")[0];
        Assert.Equal("[2,1]", output.GetProperty("shape").GetRawText());
        var answers = Strings(output.GetProperty("data"));
        for (var row = 0; row < 2; row++)
        {
            var numbers = values.Skip(row * 3).Take(3).Select(v => Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            var best = Array.IndexOf(numbers, numbers.Max());
            var parts = answers[row].Split(':');
            Assert.Equal(best.ToString(System.Globalization.CultureInfo.InvariantCulture), parts[1]);
            Assert.Equal(numbers[best], double.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), Math.Abs(numbers[best]) * 1e-7);
        }
    }

    [Fact]
    public async Task A_version_that_names_its_classes_gets_labels()
    {
        var registry = fixture.Server.Services.GetRequiredService<IModelRegistry>();
        var image = await fixture.Server.RegisterAsync("cls-image", OnnxModelWriter.Identity(OnnxElementType.Float, "batch", 4).ToBytes());
        await registry.SetVersionMetadataAsync("cls-image", image, "maas.image",
            """{"input":"input","shape":[4],"logits_output":"output","probabilities_output":"probs","classes":["cat","dog","fox","owl"]}""", CancellationToken.None);
        var (status, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-image/infer", Body("""{"classification":2}"""));
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
        Assert.Equal(["10:2:fox", "5:1:dog", "4:0:cat", "3:1:dog"], Strings(ok.GetProperty("outputs")[0].GetProperty("data")));

        // A table classifier names them for its score output.
        var table = await fixture.Server.RegisterAsync("cls-table", OnnxModelWriter.Identity(OnnxElementType.Float, "batch", 4).ToBytes());
        await registry.SetVersionMetadataAsync("cls-table", table, "maas.tabular",
            """{"task":"multiclass-classification","features":[{"name":"input","type":"number"}],"classes":["a","b","c","d"],"score_output":"output"}""", CancellationToken.None);
        (status, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-table/infer", Body("""{"classification":1}"""));
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
        Assert.Equal(["10:2:c", "4:0:a"], Strings(ok.GetProperty("outputs")[0].GetProperty("data")));

        // Classes that do not match the output's width are not guessed at: indices only.
        await registry.SetVersionMetadataAsync("cls-table", table, "maas.tabular",
            """{"task":"multiclass-classification","features":[{"name":"input","type":"number"}],"classes":["a","b"],"score_output":"output"}""", CancellationToken.None);
        (_, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-table/infer", Body("""{"classification":1}"""));
        Assert.Equal(["10:2", "4:0"], Strings(ok.GetProperty("outputs")[0].GetProperty("data")));
    }

    [Fact]
    public async Task Labels_in_the_serving_configuration_name_an_uploaded_models_classes_and_win_over_the_versions_own()
    {
        var registry = fixture.Server.Services.GetRequiredService<IModelRegistry>();
        var version = await fixture.Server.RegisterAsync("cls-config", OnnxModelWriter.Identity(OnnxElementType.Float, "batch", 4).ToBytes(),
            new { labels = new Dictionary<string, string[]> { ["output"] = ["a", "b", "c", "d"] } });
        var (status, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-config/infer", Body("""{"classification":2}"""));
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
        Assert.Equal(["10:2:c", "5:1:b", "4:0:a", "3:1:b"], Strings(ok.GetProperty("outputs")[0].GetProperty("data")));

        // An edit is seen by the next call (serving keeps labels with its resolution of the version, which a change
        // refreshes), over gRPC too.
        await PutConfigAsync("cls-config", """{"labels": {"output": ["w", "x", "y", "z"]}}""");
        (_, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-config/infer", Body("""{"classification":1}"""));
        Assert.Equal(["10:2:y", "4:0:w"], Strings(ok.GetProperty("outputs")[0].GetProperty("data")));
        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var request = GrpcRequest(new InferParameter { Int64Param = 1 });
        request.ModelName = "cls-config";
        var result = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
        Assert.True(result.Status == 0, result.Message);
        Assert.Equal(["10:2:y", "4:0:w"], ReadBytesElements(result.Single.RawOutputContents[0].ToByteArray()));

        // The configuration wins over the version's metadata; without it, the metadata's apply (an edit of which is seen too).
        await registry.SetVersionMetadataAsync("cls-config", version, "maas.image",
            """{"input":"input","shape":[4],"logits_output":"output","classes":["cat","dog","fox","owl"]}""", CancellationToken.None);
        (_, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-config/infer", Body("""{"classification":1}"""));
        Assert.Equal(["10:2:y", "4:0:w"], Strings(ok.GetProperty("outputs")[0].GetProperty("data")));
        await PutConfigAsync("cls-config", "{}");
        (_, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-config/infer", Body("""{"classification":1}"""));
        Assert.Equal(["10:2:fox", "4:0:cat"], Strings(ok.GetProperty("outputs")[0].GetProperty("data")));

        // Labels for another number of classes than the output has are not used.
        await PutConfigAsync("cls-config", """{"labels": {"output": ["no", "yes"]}}""");
        (_, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-config/infer", Body("""{"classification":1}"""));
        Assert.Equal(["10:2", "4:0"], Strings(ok.GetProperty("outputs")[0].GetProperty("data")));
    }

    [Theory]
    [InlineData("""{"labels": {"output": ["a", null]}}""", "invalid_config", "labels.output[1] must be a non-empty string, not null")]
    [InlineData("""{"labels": {"output": ["a", ""]}}""", "invalid_config", "labels.output[1] must be a non-empty string, not \"\"")]
    [InlineData("""{"labels": {"output": null}}""", "invalid_config", "labels.output must be a list of strings")]
    [InlineData("""{"labels": {"": ["a"]}}""", "invalid_config", "labels: an output name must have 1 to 1024 characters, not 0")]
    [InlineData("""{"labels": {"output": ["a", "b", "c", "d", "e", "f", "g", "h", "i"]}}""", "invalid_config",
        "labels.output has 9 labels, above the server's maximum of 8 per output (Maas:ServingLimits:MaxLabelsPerOutput)")]
    [InlineData("""{"labels": {"output": ["a", "seventeen chars!!"]}}""", "invalid_config",
        "labels.output[1] has 17 characters, above the server's maximum of 16 (Maas:ServingLimits:MaxLabelChars)")]
    [InlineData("""{"labels": {"output": [1, 2]}}""", "invalid_json", "labels.output[0]")]
    [InlineData("""{"labels": {"output": "a,b"}}""", "invalid_json", "labels.output")]
    [InlineData("""{"labels": ["a", "b"]}""", "invalid_json", "labels")]
    public async Task Labels_that_are_not_lists_of_strings_within_the_limits_get_400_naming_the_field(string config, string code, string message)
    {
        await fixture.Server.RegisterAsync("cls-bad-labels", OnnxModelWriter.Identity(OnnxElementType.Float, "batch", 4).ToBytes());
        using var response = await fixture.Server.Client.PutAsync("/api/v1/models/cls-bad-labels/config", new StringContent(config, Encoding.UTF8, "application/json"));
        var error = await response.ErrorAsync(HttpStatusCode.BadRequest, code);
        Assert.Contains(message, (string?)error["message"], StringComparison.Ordinal);
        var (_, stored) = await fixture.Server.Client.GetJsonAsync("/api/v1/models/cls-bad-labels/config");
        Assert.False(stored.TryGetProperty("labels", out _), stored.ToString());
    }

    [Fact]
    public async Task An_onnx_ml_classifier_names_its_classes_and_its_label_output_is_refused_before_it_runs()
    {
        var version = await fixture.Server.RegisterAsync("cls-linear", OnnxModelWriter.LinearClassifier(stringLabels: ["cat", "dog", "fox"]).ToBytes());
        var (_, stored) = await fixture.Server.Client.GetJsonAsync($"/api/v1/models/cls-linear/versions/{version}");
        Assert.Equal("""{"scores":["cat","dog","fox"]}""", stored.GetProperty("signature").GetProperty("class_labels").GetRawText());

        static string Ask(string output) =>
            $$$"""{"inputs":[{"name":"input","shape":[2,3],"datatype":"FP32","data":[[1,5,10],[4,3,2]]}],"outputs":[{"name":"{{{output}}}","parameters":{"classification":1}}]}""";
        var (status, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-linear/infer", Ask("scores"));
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
        Assert.Equal(["10:2:fox", "4:0:cat"], Strings(ok.GetProperty("outputs")[0].GetProperty("data")));

        (status, var error, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-linear/infer", Ask("label"));
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {error}");
        Assert.Contains("output 'label' is BYTES: the classification extension ranks numeric outputs only", error.GetProperty("error").GetString());

        // Labels in the serving configuration win over the model's own.
        await PutConfigAsync("cls-linear", """{"labels": {"scores": ["a", "b", "c"]}}""");
        (_, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-linear/infer", Ask("scores"));
        Assert.Equal(["10:2:c", "4:0:a"], Strings(ok.GetProperty("outputs")[0].GetProperty("data")));

        // Integer class labels are written as numbers.
        await fixture.Server.RegisterAsync("cls-linear-int", OnnxModelWriter.LinearClassifier(intLabels: [7, 8, 9]).ToBytes());
        (status, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-linear-int/infer", Ask("scores"));
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
        Assert.Equal(["10:2:9", "4:0:7"], Strings(ok.GetProperty("outputs")[0].GetProperty("data")));
    }

    [Fact]
    public async Task A_version_stored_before_class_labels_were_read_gets_them_from_its_file_when_it_loads()
    {
        var version = await fixture.Server.RegisterAsync("cls-older", OnnxModelWriter.LinearClassifier(stringLabels: ["cat", "dog", "fox"]).ToBytes());

        // As a server from before class labels were read stored it: no class_labels (and, kept through the change, a
        // field this server does not know, as a newer server could have written).
        await using var database = await TestDatabase.CreateAsync(Db.Sqlite);
        await RegistryDatabase.ScalarAsync(database, fixture.Server.DataDir,
            "UPDATE model_versions SET signature = json_set(json_remove(signature, '$.class_labels'), '$.from_elsewhere', 'kept') "
            + "WHERE model_id = (SELECT id FROM models WHERE name = 'cls-older' OR name LIKE '%/cls-older')");
        var (_, stored) = await fixture.Server.Client.GetJsonAsync($"/api/v1/models/cls-older/versions/{version}");
        Assert.False(stored.GetProperty("signature").TryGetProperty("class_labels", out _), stored.ToString());

        // Its first call loads it; the load reads the labels, so the call already names them.
        const string ask = """{"inputs":[{"name":"input","shape":[2,3],"datatype":"FP32","data":[[1,5,10],[4,3,2]]}],"outputs":[{"name":"scores","parameters":""" +
            """{"classification":1}}]}""";
        var (status, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-older/infer", ask);
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
        Assert.Equal(["10:2:fox", "4:0:cat"], Strings(ok.GetProperty("outputs")[0].GetProperty("data")));

        // Stored with the version: the metadata route shows them, and the rest of the stored signature is as it was.
        (_, stored) = await fixture.Server.Client.GetJsonAsync($"/api/v1/models/cls-older/versions/{version}");
        Assert.Equal("""{"scores":["cat","dog","fox"]}""", stored.GetProperty("signature").GetProperty("class_labels").GetRawText());
        Assert.Equal(1, await RegistryDatabase.ScalarAsync(database, fixture.Server.DataDir,
            "SELECT COUNT(*) FROM model_versions WHERE json_extract(signature, '$.from_elsewhere') = 'kept' AND json_extract(signature, '$.class_labels.scores[2]') = 'fox'"));
    }

    [Fact]
    public async Task A_zipmap_output_is_served_as_a_tensor_whose_columns_its_labels_name()
    {
        // scikit-learn's default export: probabilities as a sequence of maps, which the protocol cannot carry as such.
        var version = await fixture.Server.RegisterAsync("cls-zipmap", OnnxModelWriter.ZipMapClassifier(intLabels: [7, -1, 9]).ToBytes());
        var (_, stored) = await fixture.Server.Client.GetJsonAsync($"/api/v1/models/cls-zipmap/versions/{version}");
        Assert.Equal("""{"probabilities":["-1","7","9"]}""", stored.GetProperty("signature").GetProperty("class_labels").GetRawText());
        var (_, metadata) = await fixture.Server.Client.GetJsonAsync("/v2/models/cls-zipmap");
        var declared = metadata.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("name").GetString() == "probabilities");
        Assert.Equal("FP32", declared.GetProperty("datatype").GetString());
        Assert.Equal("[-1,-1]", declared.GetProperty("shape").GetRawText());

        static string Ask(string parameters) =>
            $$$"""{"inputs":[{"name":"input","shape":[2,3],"datatype":"FP32","data":[[0.1,0.2,0.7],[0.5,0.4,0.1]]}],"outputs":""" +
            $$$"""[{"name":"probabilities","parameters":{{{parameters}}}}]}""";
        var (status, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-zipmap/infer", Ask("""{"binary_data":false}"""));
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
        var output = ok.GetProperty("outputs")[0];
        Assert.Equal("[2,3]", output.GetProperty("shape").GetRawText());
        Assert.Equal([0.2f, 0.1f, 0.7f, 0.4f, 0.5f, 0.1f], output.GetProperty("data").EnumerateArray().Select(e => e.GetSingle())); // columns -1, 7, 9

        (status, ok, _) = await fixture.Server.Client.PostJsonAsync("/v2/models/cls-zipmap/infer", Ask("""{"classification":1}"""));
        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {ok}");
        Assert.Equal(["0.7:2:9", "0.5:1:7"], Strings(ok.GetProperty("outputs")[0].GetProperty("data")));
    }

    private async Task PutConfigAsync(string model, string config)
    {
        using var response = await fixture.Server.Client.PutAsync($"/api/v1/models/{model}/config", new StringContent(config, Encoding.UTF8, "application/json"));
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    [Fact]
    public async Task The_server_metadata_lists_the_extension()
    {
        var (status, ok) = await fixture.Server.Client.GetJsonAsync("/v2");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("classification", ok.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task Grpc_answers_the_classification_as_a_bytes_output()
    {
        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var request = GrpcRequest(new InferParameter { Int64Param = 2 });
        var result = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
        Assert.True(result.Status == 0, result.Message);
        var output = result.Single.Outputs[0];
        Assert.Equal("BYTES", output.Datatype);
        Assert.Equal([2L, 2L], output.Shape);
        Assert.Equal(["10:2", "5:1", "4:0", "3:1"], ReadBytesElements(result.Single.RawOutputContents[0].ToByteArray()));
    }

    [Theory]
    [InlineData(0L, null)]
    [InlineData(-1L, null)]
    [InlineData(null, "2")]
    public async Task Grpc_refuses_a_count_that_is_not_a_positive_integer(long? int64, string? text)
    {
        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var parameter = int64 is { } n ? new InferParameter { Int64Param = n } : new InferParameter { StringParam = text };
        var result = await grpc.CallAsync("ModelInfer", GrpcRequest(parameter), ModelInferResponse.Parser);
        Assert.Equal(3, result.Status); // INVALID_ARGUMENT
        Assert.Contains("output 'output': parameter \"classification\" must be a positive integer", result.Message);
    }

    [Fact]
    public async Task A_stream_classifies_each_message_and_reports_a_bad_count_in_its_own_answer()
    {
        using var grpc = new GrpcTestClient(fixture.Server.GrpcAddress());
        var result = await grpc.CallRawAsync("ModelStreamInfer",
            [GrpcRequest(new InferParameter { Uint64Param = 1 }).ToByteArray(), GrpcRequest(new InferParameter { DoubleParam = 1.5 }).ToByteArray(),
                GrpcRequest(new InferParameter { Int64Param = 3 }).ToByteArray()],
            ModelStreamInferResponse.Parser);
        Assert.True(result.Status == 0, result.Message);
        Assert.Equal(3, result.Responses.Count);
        Assert.Equal(["10:2", "4:0"], ReadBytesElements(result.Responses[0].InferResponse.RawOutputContents[0].ToByteArray()));
        Assert.Contains("output 'output': parameter \"classification\" must be a positive integer", result.Responses[1].ErrorMessage);
        Assert.Equal([2L, 3L], result.Responses[2].InferResponse.Outputs[0].Shape);
        Assert.Equal(["10:2", "5:1", "4:3", "4:0", "3:1", "2:2"], ReadBytesElements(result.Responses[2].InferResponse.RawOutputContents[0].ToByteArray()));
    }

    private static ModelInferRequest GrpcRequest(InferParameter classification)
    {
        var request = new ModelInferRequest { ModelName = "m" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32" };
        input.Shape.Add([2, 4]);
        request.Inputs.Add(input);
        request.RawInputContents.Add(ByteString.CopyFrom(InferenceHost.Floats([1, 5, 10, 4, 4, 3, 2, 1])));
        var output = new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "output" };
        output.Parameters["classification"] = classification;
        request.Outputs.Add(output);
        return request;
    }

    private static string[] ReadBytesElements(byte[] raw)
    {
        var result = new List<string>();
        for (var offset = 0; offset < raw.Length;)
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan(offset));
            result.Add(Encoding.UTF8.GetString(raw, offset + 4, length));
            offset += 4 + length;
        }

        return [.. result];
    }
}
