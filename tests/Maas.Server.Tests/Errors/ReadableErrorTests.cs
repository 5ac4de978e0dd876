using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Errors;

/// <summary>Error bodies carry their text as written: quotes and angle brackets, not \u0027 and \u003C escapes.</summary>
public sealed class ReadableErrorTests
{
    [Fact]
    public async Task Quotes_and_angle_brackets_come_out_literally_in_every_error_style()
    {
        await using var server = await MaasTestServer.StartAsync();
        using var anonymous = server.CreateClient(apiKey: null);
        foreach (var route in new[] { "/api/v1/models", "/v1/models", "/v2/models/x" })
        {
            using var response = await anonymous.GetAsync(route);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Contains("'Authorization: Bearer <key>'", body, StringComparison.Ordinal);
            Assert.DoesNotContain("\\u00", body, StringComparison.Ordinal);
        }

        // A registry error (management style, through the API's JSON options).
        using var missing = await server.Client.GetAsync("/api/v1/models/no-such-model");
        var text = await missing.Content.ReadAsStringAsync();
        Assert.Contains("'no-such-model'", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u0027", text, StringComparison.Ordinal);

        // The OpenAI style, from the LLM side.
        using var chat = await server.Client.PostAsync("/v1/chat/completions", Api.Json("""{"model": "no-such-llm", "messages": [{"role": "user", "content": "hi"}]}"""));
        var openAi = await chat.Content.ReadAsStringAsync();
        Assert.Contains("'no-such-llm'", openAi, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u0027", openAi, StringComparison.Ordinal);
    }
}
