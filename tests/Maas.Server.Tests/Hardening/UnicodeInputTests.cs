using System.Net;
using System.Text;
using System.Text.Json;

namespace Maas.Server.Tests.Hardening;

/// <summary>
/// Text the JSON reader takes but .NET cannot hold as UTF-8: a lone surrogate escape, or raw bytes that are not UTF-8, is
/// the caller's 400, wherever it is.
/// </summary>
[Collection(LlmServerProcessCollection.Name)]
public sealed class UnicodeInputTests(LlmServerProcess fixture)
{
    private async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string path, string json)
    {
        using var response = await fixture.Server.Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    [Theory]
    [InlineData("/v1/chat/completions", """{"model":"gen","max_tokens":2,"messages":[{"role":"user","content":"a\ud800b"}]}""", "messages[0].content")]
    [InlineData("/v1/chat/completions", """{"model":"gen","max_tokens":2,"messages":[{"role":"user","content":"hi"},{"role":"user","content":[{"type":"text","text":"\udc00"}]""" +
        """}]}""", "messages[1].content[0].text")]
    [InlineData("/v1/chat/completions", """{"model":"gen","max_tokens":2,"stop":["\udc00"],"messages":[{"role":"user","content":"hi"}]}""", "stop")]
    [InlineData("/v1/chat/completions", """{"model":"gen","max_tokens":2,"user":"\ud83d","messages":[{"role":"user","content":"hi"}]}""", "user")]
    [InlineData("/v1/completions", """{"model":"gen","max_tokens":2,"prompt":["ok","\ude00 tail"]}""", "prompt")]
    [InlineData("/v1/completions", """{"model":"gen","max_tokens":2,"prompt":"hi","\ud800":1}""", null)]
    [InlineData("/v1/embeddings", """{"model":"gen","input":"\ud800"}""", "input")]
    public async Task A_lone_surrogate_in_any_string_is_a_400_naming_the_parameter(string path, string json, string? param)
    {
        var (status, body) = await PostAsync(path, json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = body.GetProperty("error");
        Assert.Equal("invalid_unicode", error.GetProperty("code").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
    }

    // "@" stands for a byte that is not UTF-8 (0xFF); the JSON reader takes such bytes inside strings unchecked.
    [Theory]
    [InlineData("/v1/chat/completions", """{"model":"gen","max_tokens":2,"messages":[{"role":"user","content":"a@b"}]}""", "messages[0].content")]
    [InlineData("/v1/chat/completions", """{"model":"gen","max_tokens":2,"user":"@","messages":[{"role":"user","content":"hi"}]}""", "user")]
    [InlineData("/v1/completions", """{"model":"gen","max_tokens":2,"prompt":["ok","@"]}""", "prompt")]
    [InlineData("/v1/completions", """{"model":"gen","max_tokens":2,"prompt":"hi","@":1}""", null)]
    [InlineData("/v1/embeddings", """{"model":"gen","input":"@"}""", "input")]
    public async Task Bytes_that_are_not_utf8_in_any_string_are_a_400_naming_the_parameter(string path, string json, string? param)
    {
        var bytes = Encoding.UTF8.GetBytes(json).Select(b => b == (byte)'@' ? (byte)0xFF : b).ToArray();
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var response = await fixture.Server.Client.PostAsync(path, content);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal("invalid_unicode", error.GetProperty("code").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task Paired_surrogates_and_nul_characters_are_ordinary_text()
    {
        var (status, body) = await PostAsync("/v1/chat/completions",
            """{"model":"gen","max_tokens":2,"stop":["\u0000"],"messages":[{"role":"user","content":"smile \ud83d\ude00 and a\u0000b"}]}""");
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
    }
}
