using System.Net;
using System.Text;
using System.Text.Json;
using Maas.Server.OpenAi.Demo;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.OpenAi;

/// <summary>
/// The per-request (Maas:Llm:MaxTokensPerRequest) and server-wide (Maas:Llm:MaxTokensInFlight) token limits over
/// HTTP: OpenAI-format errors that carry the configured values, 429 while the budget is in use, served once it frees.
/// </summary>
public sealed class TokenLimitTests
{
    private const int PerRequest = 1500;
    private const int InFlight = 1600;

    [Fact]
    public async Task Token_limits_are_enforced_and_reported_with_their_values()
    {
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Llm:Demo"] = "true",
            ["Maas:Llm:MaxTokensPerRequest"] = PerRequest.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Maas:Llm:MaxTokensInFlight"] = InFlight.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        string Completion(int maxTokens, int n = 1, bool stream = false) =>
            $$"""{"model":"{{LlmDemoModel.Name}}","prompt":"Hello","max_tokens":{{maxTokens}},"n":{{n}},"ignore_eos":true,"stream":{{(stream ? "true" : "false")}}}""";

        // Per request: above the cap is the caller's mistake, with the cap in the message.
        var (status, error) = await PostAsync(server, Completion(PerRequest + 1));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("max_tokens_exceeded", error.GetProperty("code").GetString());
        Assert.Contains($"at most {PerRequest}", error.GetProperty("message").GetString(), StringComparison.Ordinal);

        // Server-wide: a request that could never fit is refused (400) with the budget's size.
        (status, error) = await PostAsync(server, Completion(1000, n: 2));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("token_limit_exceeded", error.GetProperty("code").GetString());
        Assert.Contains($"at most {InFlight} tokens in flight", error.GetProperty("message").GetString(), StringComparison.Ordinal);

        // A long stream holds most of the budget: the next request that does not fit gets 429 at once.
        using (var running = await server.Client.SendAsync(
            new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(Completion(PerRequest, stream: true), Encoding.UTF8, "application/json") },
            HttpCompletionOption.ResponseHeadersRead))
        {
            running.EnsureSuccessStatusCode();
            using var reader = new StreamReader(await running.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: ", await reader.ReadLineAsync(), StringComparison.Ordinal); // it is generating

            using var refused = await server.Client.PostAsync("/v1/completions", new StringContent(Completion(200), Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
            var body = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            Assert.Equal("token_budget_exceeded", body.GetProperty("code").GetString());
            Assert.Equal("tokens", body.GetProperty("type").GetString()); // OpenAI's type for a limit on tokens
            Assert.Contains($"of {InFlight} tokens reserved", body.GetProperty("message").GetString(), StringComparison.Ordinal);
        } // hanging up frees the stream's reservation

        await Conditions.WaitUntilAsync(
            async () =>
            {
                var (again, _) = await PostAsync(server, Completion(200));
                if (again == HttpStatusCode.OK)
                {
                    return true;
                }

                Assert.Equal(HttpStatusCode.TooManyRequests, again);
                return false;
            },
            "the budget is given back after the stream ended");
    }

    [Fact]
    public async Task Prompts_that_together_never_fit_the_budget_are_400_and_the_cap_names_the_parameter_used()
    {
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Llm:Demo"] = "true",
            ["Maas:Llm:MaxTokensPerRequest"] = PerRequest.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Maas:Llm:MaxTokensInFlight"] = InFlight.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        // Each prompt fits the budget alone, both together never do: a 429 would have the client retry for ever
        // against its own first reservation.
        var (status, error) = await PostAsync(server, $$"""{"model":"{{LlmDemoModel.Name}}","prompt":["Hello","Hello"],"max_tokens":1000}""");
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status}: {error}");
        Assert.Equal("token_limit_exceeded", error.GetProperty("code").GetString());
        Assert.Contains($"at most {InFlight} tokens in flight", error.GetProperty("message").GetString(), StringComparison.Ordinal);

        // The per-request cap names the parameter the caller sent, and the setting.
        (status, error) = await PostAsync(
            server,
            $$"""{"model":"{{LlmDemoModel.Name}}","max_completion_tokens":{{PerRequest + 1}},"messages":[{"role":"user","content":"hi"}]}""",
            "/v1/chat/completions");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("max_completion_tokens", error.GetProperty("param").GetString());
        var message = error.GetProperty("message").GetString()!;
        Assert.Contains($"'max_completion_tokens' is {PerRequest + 1}", message, StringComparison.Ordinal);
        Assert.Contains("Maas:Llm:MaxTokensPerRequest", message, StringComparison.Ordinal);
    }

    // The request-size limits of the OpenAI routes are settings too, and a refusal names the value and the setting.
    [Fact]
    public async Task Choices_tools_and_embedding_inputs_are_limited_by_configuration_and_refusals_name_the_setting()
    {
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Llm:Demo"] = "true",
            ["Maas:Llm:MaxChoices"] = "2",
            ["Maas:Llm:MaxTools"] = "1",
            ["Maas:Llm:MaxEmbeddingInputs"] = "2",
            ["Maas:Llm:MaxEmbeddingTokens"] = "3",
        });
        var model = LlmDemoModel.Name;

        async Task RefusedAsync(string path, string json, string param, string words)
        {
            var (status, error) = await PostAsync(server, json, path);
            Assert.True(status == HttpStatusCode.BadRequest, $"{path} {json}: {(int)status} {error}");
            Assert.Equal(param, error.GetProperty("param").GetString());
            Assert.Contains(words, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        await RefusedAsync("/v1/completions", $$"""{"model":"{{model}}","prompt":"Hi","n":3,"max_tokens":1}""", "n", "between 1 and 2 (Maas:Llm:MaxChoices)");
        var (ok, _) = await PostAsync(server, $$"""{"model":"{{model}}","prompt":"Hi","n":2,"max_tokens":1}""");
        Assert.Equal(HttpStatusCode.OK, ok);

        const string Tool = """{"type":"function","function":{"name":"NAME","parameters":{"type":"object"}}}""";
        await RefusedAsync(
            "/v1/chat/completions",
            $$"""{"model":"{{model}}","max_tokens":1,"messages":[{"role":"user","content":"x"}],"tools":""" +
            $$"""[{{Tool.Replace("NAME", "a", StringComparison.Ordinal)}},{{Tool.Replace("NAME", "b", StringComparison.Ordinal)}}]}""",
            "tools",
            "at most 1 are allowed (Maas:Llm:MaxTools)");

        await RefusedAsync("/v1/embeddings", $$"""{"model":"{{model}}","input":["a","b","c"]}""", "input", "at most 2 are allowed (Maas:Llm:MaxEmbeddingInputs)");
        await RefusedAsync("/v1/embeddings", $$"""{"model":"{{model}}","input":[[1,2],[3,4]]}""", "input",
            "at most 3 tokens summed across all inputs are allowed per request (Maas:Llm:MaxEmbeddingTokens)");
    }

    private static async Task<(HttpStatusCode Status, JsonElement Error)> PostAsync(MaasTestServer server, string json, string path = "/v1/completions")
    {
        using var response = await server.Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return (response.StatusCode, body.TryGetProperty("error", out var error) ? error.Clone() : body.Clone());
    }
}
