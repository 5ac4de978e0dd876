using System.Globalization;
using System.Net;
using System.Text.Json;
using Maas.Testing;

namespace Maas.Server.Tests.Ollama;

/// <summary>
/// keep_alive on /api/chat, /api/generate and /api/embed: 0 unloads the model after the answer (or at once with
/// nothing to answer), a duration or a number of seconds sets how long it stays, a negative value keeps it; /api/ps
/// and /api/v1/loaded-models show it.
/// </summary>
[Collection(OllamaServerCollection.Name)]
public sealed class OllamaKeepAliveTests(OllamaServerFixture fixture)
{
    [Fact]
    public async Task Keep_alive_0_unloads_the_model_once_its_answer_is_done()
    {
        await fixture.PostOkAsync("/api/generate", """{"model": "gen:1", "prompt": "Hi", "stream": false, "options": {"num_predict": 2}}""");
        Assert.Contains("gen:1", (await PsAsync()).Keys);

        var answer = await fixture.PostOkAsync("/api/generate", """{"model": "gen:1", "prompt": "Hi", "stream": false, "keep_alive": 0, "options": {"num_predict": 2}}""");
        Assert.InRange(answer.GetProperty("eval_count").GetInt64(), 1, 2);
        await WaitUnloadedAsync("gen", 1, "keep_alive 0 on /api/generate");

        // A streamed chat with "0s" loads it again for its answer, then lets it go the same way.
        using (var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/chat",
            """{"model": "gen:1", "keep_alive": "0s", "messages": [{"role": "user", "content": "Hi"}], "options": {"num_predict": 3}}"""))
        {
            var lines = await OllamaServerFixture.ReadLinesAsync(response);
            Assert.True(lines[^1].GetProperty("done").GetBoolean());
        }

        await WaitUnloadedAsync("gen", 1, "keep_alive \"0s\" on a streamed /api/chat");

        // And the embedding routes take it too.
        await fixture.PostOkAsync("/api/embed", """{"model": "gen:1", "input": "hello", "keep_alive": "0m"}""");
        await WaitUnloadedAsync("gen", 1, "keep_alive \"0m\" on /api/embed");
    }

    [Fact]
    public async Task Keep_alive_0_without_a_prompt_unloads_at_once_and_loads_nothing()
    {
        var load = await fixture.PostOkAsync("/api/chat", """{"model": "gen:2", "messages": []}""");
        Assert.Equal("load", load.GetProperty("done_reason").GetString());
        Assert.Contains("gen:2", (await PsAsync()).Keys);

        // Ollama's documented way to unload: no messages (or prompt) and keep_alive 0. The model resolved, so the
        // answer names its version and the request metrics count it under the model, as every other call.
        static double Counted(string metrics) => ModelHosting.Placement.Sum(
            metrics, "maas_request_duration_seconds_count", "model=\"gen\"", "route=\"/api/chat\"", "version=\"2\"", "status=\"200\"");
        var countedBefore = Counted(await fixture.Host.Admin.GetStringAsync("/metrics"));
        using var unloadResponse = await OllamaServerFixture.PostAsync(fixture.Host.Admin, "/api/chat", """{"model": "gen:2", "messages": [], "keep_alive": 0}""");
        Assert.Equal(HttpStatusCode.OK, unloadResponse.StatusCode);
        Assert.Equal("2", unloadResponse.Headers.GetValues("X-Maas-Model-Version").Single());
        var unload = JsonDocument.Parse(await unloadResponse.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("unload", unload.GetProperty("done_reason").GetString());
        await Conditions.ReadUntilAsync(
            () => fixture.Host.Admin.GetStringAsync("/metrics"),
            m => Counted(m) == countedBefore + 1,
            "the unload request counted under model \"gen\" version 2");
        Assert.True(unload.GetProperty("done").GetBoolean());
        Assert.Equal("", unload.GetProperty("message").GetProperty("content").GetString());
        await WaitUnloadedAsync("gen", 2, "an unload request on /api/chat");

        // Asked again while it is not loaded: answered the same, and nothing is loaded for it.
        var loadsBefore = (await LoadedModelsAsync()).GetProperty("loads").GetInt64();
        var again = await fixture.PostOkAsync("/api/generate", """{"model": "gen:2", "keep_alive": "0"}""");
        Assert.Equal("unload", again.GetProperty("done_reason").GetString());
        Assert.Equal("", again.GetProperty("response").GetString());
        var after = await LoadedModelsAsync();
        Assert.Equal(loadsBefore, after.GetProperty("loads").GetInt64());
        Assert.DoesNotContain(Loaded(after), m => m == ("gen", 2));
    }

    [Fact]
    public async Task A_duration_or_seconds_set_how_long_the_model_stays_and_ps_reports_it()
    {
        var clock = fixture.Host.Clock;

        // A duration string: expires_at is its release plus an hour.
        var before = clock.GetUtcNow();
        await fixture.PostOkAsync("/api/generate", """{"model": "gen:1", "keep_alive": "1h"}""");
        var after = clock.GetUtcNow();
        Assert.InRange((await PsAsync())["gen:1"], before.AddHours(1), after.AddHours(1));

        // A number is seconds; the model's own keep-alive (300 s) no longer applies.
        before = clock.GetUtcNow();
        await fixture.PostOkAsync("/api/generate", """{"model": "gen:1", "prompt": "Hi", "stream": false, "keep_alive": 90, "options": {"num_predict": 1}}""");
        after = clock.GetUtcNow();
        Assert.InRange((await PsAsync())["gen:1"], before.AddSeconds(90), after.AddSeconds(90));
        var listed = Models(await LoadedModelsAsync()).Single(m => m.GetProperty("model").GetString() == "gen" && m.GetProperty("version").GetInt32() == 1);
        Assert.Equal(90, listed.GetProperty("keep_alive_seconds").GetDouble());

        // Negative: stays loaded (until evicted for memory or unloaded by an operator).
        await fixture.PostOkAsync("/api/chat", """{"model": "gen:1", "messages": [], "keep_alive": "-1m"}""");
        Assert.True((await PsAsync())["gen:1"] > clock.GetUtcNow().AddYears(100));

        // A short one is honoured by the host's idle sweep: the model goes without being asked again.
        await fixture.PostOkAsync("/api/chat", """{"model": "gen:1", "messages": [], "keep_alive": "1.5s"}""");
        await WaitUnloadedAsync("gen", 1, "the 1.5 s keep_alive ran out");
    }

    [Theory]
    [InlineData("\"5 minutes\"")]
    [InlineData("\"300\"")]
    [InlineData("\"\"")]
    [InlineData("\"1h-5m\"")]
    [InlineData("\"5x\"")]
    [InlineData("true")]
    [InlineData("{\"seconds\": 5}")]
    public async Task A_bad_keep_alive_is_400_in_ollamas_shape(string value)
    {
        foreach (var (path, body) in new[]
        {
            ("/api/generate", $$$"""{"model": "gen", "prompt": "Hi", "keep_alive": {{{value}}}}"""),
            ("/api/chat", $$$"""{"model": "gen", "messages": [], "keep_alive": {{{value}}}}"""),
            ("/api/embed", $$$"""{"model": "gen", "input": "Hi", "keep_alive": {{{value}}}}"""),
        })
        {
            using var response = await OllamaServerFixture.PostAsync(fixture.Host.Admin, path, body);
            var message = await OllamaServerFixture.ErrorAsync(response, HttpStatusCode.BadRequest);
            Assert.Contains("keep_alive", message, StringComparison.Ordinal);
        }
    }

    private async Task WaitUnloadedAsync(string model, int version, string why) =>
        await Conditions.WaitUntilAsync(
            async () => !(await PsAsync()).ContainsKey($"{model}:{version}") && !Loaded(await LoadedModelsAsync()).Contains((model, version)),
            $"{model} version {version} left /api/ps and /api/v1/loaded-models after {why}");

    // /api/ps: each loaded model's name with its expires_at.
    private async Task<Dictionary<string, DateTimeOffset>> PsAsync()
    {
        var ps = JsonDocument.Parse(await fixture.Host.Admin.GetStringAsync("/api/ps")).RootElement.GetProperty("models");
        return ps.EnumerateArray().ToDictionary(
            m => m.GetProperty("name").GetString()!,
            m => DateTimeOffset.Parse(m.GetProperty("expires_at").GetString()!, CultureInfo.InvariantCulture));
    }

    private async Task<JsonElement> LoadedModelsAsync() =>
        JsonDocument.Parse(await fixture.Host.Admin.GetStringAsync("/api/v1/loaded-models")).RootElement.Clone();

    private static IEnumerable<JsonElement> Models(JsonElement list) => list.GetProperty("models").EnumerateArray();

    private static List<(string, int)> Loaded(JsonElement list) =>
        [.. Models(list).Select(m => (m.GetProperty("model").GetString()!, m.GetProperty("version").GetInt32()))];
}
