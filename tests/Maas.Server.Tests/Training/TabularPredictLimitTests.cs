using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Onnx;
using Maas.Core.Registry;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Training;

/// <summary>
/// /predict with rows as a table file reads them under the server's configured dataset limits (Maas:Datasets:MaxColumns,
/// MaxFieldBytes, MaxRowBytes), as a dataset upload is: the body was parsed under the defaults, so the setting its
/// refusals named was not the one that applied. The model is an FP32 Identity [batch, 1] with table metadata for one
/// number feature, "input", so each row's answer is its input.
/// </summary>
public sealed class TabularPredictLimitTests
{
    private static readonly Dictionary<string, string?> Small = new()
    {
        ["Maas:Datasets:MaxColumns"] = "5",
        ["Maas:Datasets:MaxFieldBytes"] = "64",
        ["Maas:Datasets:MaxRowBytes"] = "256",
    };

    [Fact]
    public async Task A_table_body_over_a_configured_dataset_limit_gets_400_naming_the_setting_and_its_value()
    {
        await using var server = await MaasTestServer.StartAsync(settings: Small);
        var model = await TableModelAsync(server);

        var field = await RefusedAsync(server, model, "text/csv", $"input,note\n2,{new string('x', 65)}\n");
        Assert.Contains("the rows are not valid CSV: line 2 (row 1): field 2 is longer than the limit of 64 bytes (Maas:Datasets:MaxFieldBytes)", (string?)field["message"]);
        Assert.Equal(64, (int)field["limit"]!);

        // Fields within their limit, together over the row's: 1 + 4 * 64 bytes.
        var wide = string.Join('\t', Enumerable.Repeat(new string('w', 63), 4));
        var row = await RefusedAsync(server, model, "text/tab-separated-values", $"input\ta\tb\tc\td\n2\t{wide}\n");
        Assert.Contains("the rows are not valid TSV: line 2 (row 1): the row is longer than the limit of 256 bytes (Maas:Datasets:MaxRowBytes)", (string?)row["message"]);
        Assert.Equal(256, (int)row["limit"]!);

        var value = await RefusedAsync(server, model, "application/jsonl", $"{{\"input\": 2, \"note\": \"{new string('v', 65)}\"}}\n");
        Assert.Contains("the rows are not valid JSON Lines: line 1 (row 1): the value of key 'note' is longer than the limit of 64 bytes (Maas:Datasets:MaxFieldBytes)",
            (string?)value["message"]);

        var columns = await RefusedAsync(server, model, "text/csv", "input,a,b,c,d,e\n2,1,1,1,1,1\n");
        Assert.Contains("6 columns, over the limit of 5 (Maas:Datasets:MaxColumns)", (string?)columns["message"]);

        // The per-version route reads the same way.
        var versioned = await (await server.Client.PostAsync($"api/v1/models/{model}/versions/1/predict",
            Rows("text/csv", $"input,note\n2,{new string('x', 65)}\n"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_input");
        Assert.Contains("(Maas:Datasets:MaxFieldBytes)", (string?)versioned["message"]);
    }

    [Fact]
    public async Task A_table_body_at_the_configured_limits_is_answered()
    {
        await using var server = await MaasTestServer.StartAsync(settings: Small);
        var model = await TableModelAsync(server);

        // A 64-byte field (32 two-byte letters) and a row of exactly 256 bytes: 1 + 3 * 64 + 63.
        var row = $"3,{string.Join(',', Enumerable.Repeat(new string('w', 63), 3))},{new string('w', 62)}";
        var answer = await (await server.Client.PostAsync($"api/v1/models/{model}/predict",
            Rows("text/csv", $"input,note,b,c,d\n2,{new string('é', 32)},,,\n{row}\n"))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal([2.0, 3.0], answer["predictions"]!.AsArray().Select(p => (double)p!));
        Assert.Equal(["note", "b", "c", "d"], answer["ignored_columns"]!.AsArray().Select(c => (string?)c));
    }

    [Fact]
    public async Task A_number_beyond_float_range_or_an_answer_that_overflows_is_400_not_a_500()
    {
        await using var server = await MaasTestServer.StartAsync();
        var model = await TableModelAsync(server);

        // 1e39 is a double but infinity as the model's FP32 input; the answer JSON cannot hold it.
        foreach (var body in new[] { "{\"instances\": [{\"input\": 1e39}]}", "{\"instances\": [{\"input\": 2}, {\"input\": \"-1e39\"}]}" })
        {
            var error = await (await server.Client.PostAsync($"api/v1/models/{model}/predict", Rows("application/json", body))).ErrorAsync(HttpStatusCode.BadRequest,
                "invalid_input");
            Assert.Contains("'input' is", (string?)error["message"]);
            Assert.Contains("outside the range of the model's 32-bit floats", (string?)error["message"]);
        }

        var csv = await RefusedAsync(server, model, "text/csv", "input\n1\n1e39\n");
        Assert.StartsWith("instance 1: 'input' is 1E+39", (string?)csv["message"]);

        // A finite input the model's arithmetic overflows: y = 10 x.
        var scaled = Names.Unique("scaled");
        var version = await server.RegisterAsync(scaled, OnnxModelWriter.Mlp([new DenseLayer(1, 1, [10f], [0f])]).ToBytes());
        await server.Services.GetRequiredService<IModelRegistry>().SetVersionMetadataAsync(scaled, version, "maas.tabular",
            """{"task":"regression","features":[{"name":"input","type":"number"}],"score_output":"output"}""", CancellationToken.None);
        var overflow = await (await server.Client.PostAsync($"api/v1/models/{scaled}/predict",
            Rows("application/json", "{\"instances\": [{\"input\": 1}, {\"input\": 3e38}]}"))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_input");
        Assert.StartsWith("instance 1: the model's answer is not a finite number", (string?)overflow["message"]);
        var fine = await (await server.Client.PostAsync($"api/v1/models/{scaled}/predict",
            Rows("application/json", "{\"instances\": [{\"input\": 1.5}]}"))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(15.0, (double)fine["predictions"]![0]!, 5);
    }

    // An Identity model registered with the metadata a training job writes for a regression on one number feature.
    private static async Task<string> TableModelAsync(MaasTestServer server)
    {
        var name = Names.Unique("table");
        var version = await server.RegisterAsync(name, OnnxModelWriter.Identity(OnnxElementType.Float, "batch", 1).ToBytes());
        await server.Services.GetRequiredService<IModelRegistry>().SetVersionMetadataAsync(name, version, "maas.tabular",
            """{"task":"regression","features":[{"name":"input","type":"number"}],"score_output":"output"}""", CancellationToken.None);
        return name;
    }

    private static async Task<JsonNode> RefusedAsync(MaasTestServer server, string model, string contentType, string text) =>
        await (await server.Client.PostAsync($"api/v1/models/{model}/predict", Rows(contentType, text))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_input");

    private static ByteArrayContent Rows(string contentType, string text)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);
        return content;
    }
}
