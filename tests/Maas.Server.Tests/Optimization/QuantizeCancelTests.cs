using System.Net;
using Maas.Optimization;
using Maas.Runtimes.Llama;
using Maas.Server.Tests.Support;
using Maas.Storage.Jobs;
using Maas.Storage.Sql;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Optimization;

/// <summary>
/// A "gguf-quantize" job cancelled while llama.cpp quantises (one native call that cannot be interrupted) stops as soon
/// as the call returns: cancelled, no version registered, its work folder gone.
/// </summary>
public sealed class QuantizeCancelTests
{
    [Fact]
    public async Task A_cancel_requested_on_another_server_during_the_native_quantize_call_is_honoured_when_it_returns()
    {
        var entered = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var release = new ManualResetEventSlim();
        var settings = new Dictionary<string, string?>
        {
            ["Maas:Training:PollMilliseconds"] = "100",
            // A heartbeat every 200 s: only the job's own check can see the cancel within the test.
            ["Maas:Training:LeaseSeconds"] = "600",
            ["Maas:Optimization:Threads"] = "2",
        };
        await using var server = await MaasTestServer.StartAsync(settings: settings, configure: b => b.Services.AddSingleton<GgufQuantizeCall>((input, output, options) =>
        {
            // Stands in for a long llama_model_quantize: nothing inside it can see the job's cancellation.
            entered.TrySetResult(output);
            release.Wait(TimeSpan.FromMinutes(2));
            LlamaQuantizer.Quantize(input, output, options);
        }));
        var client = server.Client;
        var model = await client.CreateModelAsync();
        await GeneratedLlamas.UploadAsync(client, model, GeneratedLlamas.Tiny);

        using var submitted = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize",
            Api.Json("""{"method": "gguf-quantize", "options": {"type": "q8_0"}, "gate": {"max_perplexity_increase": 0.5}}"""));
        var id = (string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!;
        var output = await entered.Task.WaitAsync(TimeSpan.FromMinutes(1));

        // Another server (its own store on the same database) records the cancel: this one's worker gets no signal.
        var other = new SqlJobQueueStore(server.Services.GetRequiredService<SqlRegistryStore>().Dialect);
        Assert.NotNull(await other.RequestCancelAsync(id, DateTimeOffset.UtcNow, CancellationToken.None));
        release.Set();

        // The job used to go on measuring and register a version once the call returned, and ended "succeeded".
        var job = await client.WaitForJobAsync(id, TimeSpan.FromMinutes(3));
        Assert.True((string?)job["status"] == "cancelled", job.ToJsonString());
        Assert.Equal("cancelled", (string?)job["error"]!["code"]);
        var versions = (await (await client.GetAsync($"api/v1/models/{model}/versions")).JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray();
        Assert.Single(versions);
        var events = (await (await client.GetAsync($"api/v1/jobs/{id}/events?limit=1000")).JsonAsync(HttpStatusCode.OK))["events"]!.AsArray();
        Assert.DoesNotContain(events, e => (string?)e!["type"] == "metrics");
        Assert.False(Directory.Exists(Path.GetDirectoryName(output)), $"{output}'s folder is still there");
    }
}
