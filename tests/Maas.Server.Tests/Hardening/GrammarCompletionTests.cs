using System.Net;
using System.Text;
using System.Text.Json;
using Maas.Server.Tests.OpenAi;

namespace Maas.Server.Tests.Hardening;

/// <summary>
/// A grammar that has nothing more to allow while the end of generation is banned: llama.cpp's grammar sampler
/// used to throw a C++ exception across the C boundary and take the process with it. Now a finished grammar ends
/// the choice with "stop", and a ban on everything the grammar allows is the caller's 400.
/// </summary>
[Collection(LlmServerProcessCollection.Name)]
public sealed class GrammarCompletionTests(LlmServerProcess fixture)
{
    // A grammar that is finished after three or four tokens, whatever the random model prefers.
    private const string EnumFormat = """{"type":"json_schema","json_schema":{"name":"answer","schema":{"enum":["yes","no"]}}}""";

    private string BanEnd => string.Join(",", fixture.EndTokens.Select(t => $"\"{t}\":-100"));

    private async Task<(HttpStatusCode Status, string Body)> PostAsync(string json)
    {
        try
        {
            using var response = await fixture.Server.Client.PostAsync("/v1/chat/completions", new StringContent(json, Encoding.UTF8, "application/json"));
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        catch (HttpRequestException ex)
        {
            throw new Xunit.Sdk.XunitException($"the server did not answer ({ex.Message}); alive: {fixture.Server.IsRunning}\n{fixture.Server.RecentOutput}");
        }
    }

    private void AssertAlive() => Assert.True(fixture.Server.IsRunning, "the server process died:\n" + fixture.Server.RecentOutput);

    [Theory]
    [InlineData(1.0, false)]
    [InlineData(0.7, true)]
    [InlineData(0.0, false)]
    public async Task A_finished_grammar_with_the_end_tokens_banned_ends_the_choice_with_stop(double temperature, bool stream)
    {
        var json = $$"""
            {"model":"gen","temperature":{{temperature}},"stream":{{(stream ? "true" : "false")}},"max_tokens":40,"n":2,"seed":5,
             "logit_bias":{{{BanEnd}}},"response_format":{{EnumFormat}},"messages":[{"role":"user","content":"yes or no?"}]}
            """;
        var (status, body) = await PostAsync(json);
        AssertAlive();
        Assert.True(status == HttpStatusCode.OK, $"{(int)status}: {body}");
        var texts = new StringBuilder[2] { new(), new() };
        var finishes = new string?[2];
        if (stream)
        {
            foreach (var line in body.Split('\n').Where(l => l.StartsWith("data: {", StringComparison.Ordinal)))
            {
                var choice = JsonDocument.Parse(line[6..]).RootElement.GetProperty("choices")[0];
                var index = choice.GetProperty("index").GetInt32();
                if (choice.GetProperty("delta").TryGetProperty("content", out var content))
                {
                    texts[index].Append(content.GetString());
                }

                if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String)
                {
                    finishes[index] = choice.GetProperty("finish_reason").GetString();
                }
            }
        }
        else
        {
            foreach (var choice in JsonDocument.Parse(body).RootElement.GetProperty("choices").EnumerateArray())
            {
                var index = choice.GetProperty("index").GetInt32();
                texts[index].Append(choice.GetProperty("message").GetProperty("content").GetString());
                finishes[index] = choice.GetProperty("finish_reason").GetString();
            }
        }

        for (var i = 0; i < 2; i++)
        {
            Assert.Contains(texts[i].ToString(), new[] { "\"yes\"", "\"no\"" });
            Assert.Equal("stop", finishes[i]);
        }
    }

    [Fact]
    public async Task A_finished_forced_tool_call_with_the_end_tokens_banned_ends_with_tool_calls()
    {
        var tools = """[{"type":"function","function":{"name":"pick","parameters":{"type":"object","properties":{"c":{"enum":["a","b"]}},"required":["c"]""" +
            ""","additionalProperties":false}}}]""";
        var json = $$"""
            {"model":"gen","temperature":1,"max_tokens":120,"seed":11,"logit_bias":{{{BanEnd}}},
             "tools":{{tools}},"tool_choice":"required","messages":[{"role":"user","content":"pick one"}]}
            """;
        var (status, body) = await PostAsync(json);
        AssertAlive();
        Assert.True(status == HttpStatusCode.OK, $"{(int)status}: {body}");
        var choice = JsonDocument.Parse(body).RootElement.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        Assert.Equal("pick", choice.GetProperty("message").GetProperty("tool_calls")[0].GetProperty("function").GetProperty("name").GetString());
    }

    [Theory]
    [InlineData("""{"type":"json_object"}""", false)]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"answer","schema":{"enum":["yes","no"]}}}""", true)]
    public async Task Ignore_eos_with_a_grammar_is_refused_as_contradictory(string format, bool stream)
    {
        var (status, body) = await PostAsync($$"""
            {"model":"gen","temperature":1,"stream":{{(stream ? "true" : "false")}},"max_tokens":40,"ignore_eos":true,
             "response_format":{{format}},"messages":[{"role":"user","content":"json please"}]}
            """);
        AssertAlive();
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal("ignore_eos", error.GetProperty("param").GetString());
        Assert.Contains("response_format", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_ban_on_every_token_the_grammar_allows_is_a_400_naming_logit_bias()
    {
        // The enum's values begin with a quote: with every token that starts with one banned, nothing may come first.
        var quotes = fixture.TokensStartingWith("\"");
        Assert.NotEmpty(quotes);
        var bias = string.Join(",", quotes.Select(t => $"\"{t}\":-100"));
        var (status, body) = await PostAsync($$"""
            {"model":"gen","temperature":1,"max_tokens":20,"logit_bias":{{{bias}}},"response_format":{{EnumFormat}},
             "messages":[{"role":"user","content":"yes or no?"}]}
            """);
        AssertAlive();
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status}: {body}");
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("logit_bias", error.GetProperty("param").GetString());

        // The server goes on serving.
        var (after, afterBody) = await PostAsync("""{"model":"gen","max_tokens":3,"messages":[{"role":"user","content":"hi"}]}""");
        Assert.True(after == HttpStatusCode.OK, afterBody);
    }
}
