using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Gguf;
using Maas.Server.Tests.OpenAi;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.FineTuning;

/// <summary>The per-tenant job limit on POST /v1/fine_tuning/jobs: refused as the other job routes refuse it, in OpenAI's format.</summary>
public sealed class FineTuningJobLimitTests
{
    private const int Limit = 1;

    [Fact]
    public async Task A_tenant_at_its_job_limit_gets_429_too_many_jobs_with_the_limit_in_openai_format()
    {
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>(LlmServerFixture.Settings)
        {
            ["Maas:Training:Workers"] = "0", // queued jobs stay queued, holding their places
            ["Maas:Training:MaxUnfinishedJobsPerTenant"] = Limit.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var client = server.Client;
        using (var files = new TempDirectory("maas-ft-limit"))
        {
            var path = Path.Combine(files.Path, "base.gguf");
            GgufLlamaModelFactory.Write(path, FineTuningServer.BaseOptions);
            await LlmServerFixture.RegisterAsync(client, "ftlimit", await File.ReadAllBytesAsync(path), "base.gguf");
        }

        var form = new MultipartFormDataContent { { new StringContent("fine-tune"), "purpose" } };
        var chats = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}""" + "\n"));
        chats.Headers.ContentType = new MediaTypeHeaderValue("application/jsonl");
        form.Add(chats, "file", "chats.jsonl");
        var file = (string)(await (await client.PostAsync("v1/files", form)).JsonAsync(HttpStatusCode.OK))["id"]!;
        var body = $$"""{"model": "ftlimit", "training_file": "{{file}}"}""";
        await (await client.PostAsync("v1/fine_tuning/jobs", Api.Json(body))).JsonAsync(HttpStatusCode.OK);

        // Over the limit: OpenAI's four fields, the code and limit the training and optimisation routes give, and no
        // retry by OpenAI's clients (a place frees when a job ends, not within their backoff).
        using var refused = await client.PostAsync("v1/fine_tuning/jobs", Api.Json(body));
        var text = await refused.Content.ReadAsStringAsync();
        Assert.True(refused.StatusCode == HttpStatusCode.TooManyRequests, $"{(int)refused.StatusCode}: {text}");
        var error = JsonNode.Parse(text)!["error"]!.AsObject();
        Assert.Equal("too_many_jobs", (string?)error["code"]);
        Assert.Equal("requests", (string?)error["type"]); // as every 429 on /v1 that counts requests
        Assert.True(error.ContainsKey("param") && error["param"] is null, text);
        Assert.Equal(Limit, (int?)error["limit"]);
        Assert.Contains("Maas:Training:MaxUnfinishedJobsPerTenant (1)", (string?)error["message"], StringComparison.Ordinal);
        Assert.Equal("false", refused.Headers.GetValues("x-should-retry").Single());
        Assert.Single((await (await client.GetAsync("v1/fine_tuning/jobs")).JsonAsync(HttpStatusCode.OK))["data"]!.AsArray());

        // The same refusal, message and limit as the optimisation route's in its own format.
        var source = await client.CreateModelAsync();
        await client.UploadAsync(source, TestArtifacts.Onnx(1), "model.onnx");
        var optimisation = await (await client.PostAsync($"api/v1/models/{source}/versions/1:optimize", Api.Json("""{"method": "onnx-fp16"}""")))
            .ErrorAsync(HttpStatusCode.TooManyRequests, "too_many_jobs");
        Assert.Equal(Limit, (int)optimisation["limit"]!);
        Assert.Equal((string?)optimisation["message"], (string?)error["message"]);
    }
}
