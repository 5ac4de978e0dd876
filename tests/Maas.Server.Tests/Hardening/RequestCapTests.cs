using System.Net;
using System.Text;
using System.Text.Json;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Hardening;

/// <summary>The size caps of OpenAI requests (stop strings, prompt arrays, logit_bias entries, schema bytes, expanded grammar rules) are configurable and reported with their
/// value.</summary>
public sealed class RequestCapTests : IAsyncLifetime
{
    private MaasTestServer _server = null!;

    /// <inheritdoc />
    public async Task InitializeAsync() => _server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
    {
        ["Maas:Llm:Demo"] = "false",
        ["Maas:Llm:MaxStopStrings"] = "2",
        ["Maas:Llm:MaxStopLength"] = "8",
        ["Maas:Llm:MaxPrompts"] = "3",
        ["Maas:Llm:MaxSchemaBytes"] = "2048",
        ["Maas:Llm:MaxLogitBias"] = "4",
    });

    /// <inheritdoc />
    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string Chat(string extra) => $$"""{"model":"gen","max_tokens":1,"messages":[{"role":"user","content":"hi"}],{{extra}}}""";

    public static TheoryData<string, string, string, string> Cases => new()
    {
        { "/v1/chat/completions", Chat("\"stop\":[\"a\",\"b\",\"c\"]"), "stop", "at most 2" },
        { "/v1/chat/completions", Chat("\"stop\":\"123456789\""), "stop", "at most 8" },
        { "/v1/completions", """{"model":"gen","prompt":["a","b","c","d"]}""", "prompt", "at most 3" },
        { "/v1/chat/completions", Chat("\"logit_bias\":{\"1\":1,\"2\":1,\"3\":1,\"4\":1,\"5\":1}"), "logit_bias", "at most 4 are allowed (Maas:Llm:MaxLogitBias)" },
        { "/v1/completions", """{"model":"gen","prompt":"a","logit_bias":{"1":1,"2":1,"3":1,"4":1,"5":1}}""", "logit_bias", "at most 4" },
        {
            "/v1/chat/completions",
            Chat("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"string\",\"description\":\"" + new string('d', 3000) +
            "\"}}}"),
            "response_format.json_schema.schema", "at most 2048"
        },
        {
            "/v1/chat/completions",
            Chat("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":\"" + new string('d', 3000) + "\"}}]"),
            "tools", "at most 2048"
        },
        {
            // Short to write, but llama.cpp would unroll it into 100000 rules.
            "/v1/chat/completions",
            Chat("""
                "response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","maxLength":100000}}}
                """),
            "response_format.json_schema.schema", "8192 grammar rules"
        },
        {
            "/v1/chat/completions",
            Chat("""
                "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object",
                    "properties":{"a":{"type":"array","maxItems":50000}},"required":["a"]}}}],"tool_choice":"required"
                """),
            "tools[0].function.parameters", "8192 grammar rules"
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task An_oversized_part_is_a_400_that_names_the_parameter_and_the_limit(string path, string json, string param, string limit)
    {
        using var response = await _server.Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Contains(limit, error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }
}
