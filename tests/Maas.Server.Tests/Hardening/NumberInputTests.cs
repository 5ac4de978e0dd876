using System.Net;
using System.Text;
using System.Text.Json;

namespace Maas.Server.Tests.Hardening;

/// <summary>
/// JSON numbers .NET cannot hold where a parameter wants one (past double's range, a fraction where an integer goes)
/// are the caller's 400 naming the parameter, not a failed read (500).
/// </summary>
[Collection(LlmServerProcessCollection.Name)]
public sealed class NumberInputTests(LlmServerProcess fixture)
{
    private const string Chat = "/v1/chat/completions";
    private const string Completions = "/v1/completions";
    private const string Message = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";

    [Theory]
    [InlineData(Chat, "\"temperature\":1e400," + Message, "temperature")]
    [InlineData(Chat, "\"top_p\":-1e400," + Message, "top_p")]
    [InlineData(Chat, "\"min_p\":1E+999," + Message, "min_p")]
    [InlineData(Chat, "\"presence_penalty\":1e309," + Message, "presence_penalty")]
    [InlineData(Chat, "\"frequency_penalty\":-1e309," + Message, "frequency_penalty")]
    [InlineData(Chat, "\"repeat_penalty\":1e400," + Message, "repeat_penalty")]
    [InlineData(Chat, "\"logit_bias\":{\"5\":1e400}," + Message, "logit_bias")]
    [InlineData(Chat, "\"max_tokens\":1e400," + Message, "max_tokens")]
    [InlineData(Chat, "\"n\":1e400," + Message, "n")]
    [InlineData(Chat, "\"seed\":1e400," + Message, "seed")]
    [InlineData(Chat, "\"top_logprobs\":2.5,\"logprobs\":true," + Message, "top_logprobs")]
    [InlineData(Completions, "\"prompt\":\"hi\",\"best_of\":1.5", "best_of")]
    [InlineData(Completions, "\"prompt\":\"hi\",\"best_of\":1e20", "best_of")]
    [InlineData(Completions, "\"prompt\":\"hi\",\"logprobs\":1e400", "logprobs")]
    [InlineData(Completions, "\"prompt\":[1,1e400]", "prompt")]
    [InlineData("/v1/embeddings", "\"input\":\"hi\",\"dimensions\":1e400", "dimensions")]
    public async Task A_number_out_of_range_or_not_an_integer_is_a_400_naming_the_parameter(string path, string fields, string param)
    {
        var (status, body) = await PostAsync(path, "{\"model\":\"gen\"," + fields + "}");
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status}: {body}");
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
    }

    [Fact]
    public async Task A_number_too_small_for_double_is_zero_and_best_of_equal_to_n_is_taken()
    {
        var (status, body) = await PostAsync(Chat, "{\"model\":\"gen\",\"max_tokens\":1,\"temperature\":1e-400," + Message + "}");
        Assert.True(status == HttpStatusCode.OK, $"{(int)status}: {body}");
        (status, body) = await PostAsync(Completions, """{"model":"gen","max_tokens":1,"prompt":"hi","n":2,"best_of":2}""");
        Assert.True(status == HttpStatusCode.OK, $"{(int)status}: {body}");
    }

    private async Task<(HttpStatusCode Status, string Body)> PostAsync(string path, string json)
    {
        using var response = await fixture.Server.Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
