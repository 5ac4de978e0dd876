using System.Collections.Concurrent;
using System.Net;
using Maas.Core.Formats.Onnx;
using Maas.Optimization.Onnx;
using Maas.Server.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Optimization;

/// <summary>
/// An ONNX rewrite cancelled while it is inside its loop (held at its first weight or node by the test's hook) stops
/// at its next item instead of rewriting the rest of the model: the job ends cancelled, registers nothing, and its
/// work folder is deleted.
/// </summary>
public sealed class RewriteCancelTests
{
    [Theory]
    [InlineData("onnx-fp16", "{}", nameof(OnnxFloat16Rewriter))]
    [InlineData("onnx-int8-dynamic", "{}", nameof(OnnxInt8Quantizer))]
    [InlineData("onnx-int4", "{}", nameof(OnnxInt4Quantizer))]
    [InlineData("prune-magnitude", """{"sparsity": 0.5}""", nameof(OnnxMagnitudePruner))]
    [InlineData("prune-structured", """{"ratio": 0.5}""", nameof(OnnxStructuredPruner))]
    public async Task A_cancel_while_a_rewrite_is_inside_its_loop_stops_the_loop_there(string method, string options, string loop)
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var steps = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var settings = new Dictionary<string, string?>
        {
            ["Maas:Training:PollMilliseconds"] = "100",
            // A heartbeat every 200 s: the cancel reaches the job through this process's signal, not a renewal.
            ["Maas:Training:LeaseSeconds"] = "600",
        };
        await using var server = await MaasTestServer.StartAsync(settings: settings, configure: b => b.Services.AddSingleton<OptimizationRewriteStep>((name, token) =>
        {
            if (steps.AddOrUpdate(name, 1, (_, n) => n + 1) == 1 && name == loop)
            {
                // Held at the loop's first item until the job's token fires; far past any test, a hold gives up.
                entered.TrySetResult();
                token.WaitHandle.WaitOne(TimeSpan.FromMinutes(3));
            }
        }));
        var client = server.Client;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, OnnxModelWriter.Mlp(64, [128, 96, 64], 32, seed: 6).ToBytes(), "model.onnx");

        using var submitted = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json($$"""{"method": "{{method}}", "options": {{options}}}"""));
        var id = (string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!;
        await entered.Task.WaitAsync(TimeSpan.FromMinutes(2));

        using (var cancel = await client.DeleteAsync($"api/v1/jobs/{id}"))
        {
            await cancel.JsonAsync(HttpStatusCode.Accepted);
        }

        var job = await client.WaitForJobAsync(id, TimeSpan.FromMinutes(3));
        Assert.True((string?)job["status"] == "cancelled", job.ToJsonString());
        Assert.Equal("cancelled", (string?)job["error"]!["code"]);

        // The loop stopped at the item where the cancel came; uncancelled, it takes a step per weight or node (four dense layers).
        Assert.Equal(1, steps[loop]);
        var versions = (await (await client.GetAsync($"api/v1/models/{model}/versions")).JsonAsync(HttpStatusCode.OK))["versions"]!.AsArray();
        Assert.Single(versions);
        var events = (await (await client.GetAsync($"api/v1/jobs/{id}/events?limit=1000")).JsonAsync(HttpStatusCode.OK))["events"]!.AsArray();
        Assert.DoesNotContain(events, e => (string?)e!["type"] == "metrics");
        Assert.DoesNotContain(events, e => (string?)e!["type"] == "log" && ((string?)e["data"]!["message"])!.Contains("wrote", StringComparison.Ordinal));
        var scratch = Path.Combine(server.DataDir, "tmp", "jobs");
        Assert.Empty(Directory.Exists(scratch) ? Directory.GetDirectories(scratch, id + "-*") : []);
    }
}
