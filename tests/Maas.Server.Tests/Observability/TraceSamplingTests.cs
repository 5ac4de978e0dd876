using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Maas.Server.Tests.Observability;

public class TraceSamplingTests
{
    private static string Infer(float value) =>
        InferenceHost.InferJson("input", "FP32", [1, 4], new JsonArray(value, value, value, value));

    private static Dictionary<string, string?> Settings(OtlpReceiver receiver, string ratio) => new()
    {
        ["Maas:Otlp:Endpoint"] = receiver.Endpoint.ToString(),
        ["Maas:Otlp:Protocol"] = "http/protobuf",
        ["Maas:Observability:Metrics"] = "false", // only traces reach the receiver
        ["Maas:Observability:TraceSampleRatio"] = ratio,
    };

    // Sends one inference; returns the trace id the server gave it (its request id when it has no caller's id).
    private static async Task<ActivityTraceId> InferAsync(MaasTestServer server, string model, ActivityTraceId? callerTrace = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v2/models/{model}/infer") { Content = new StringContent(Infer(0.3f), Encoding.UTF8, "application/json") };
        if (callerTrace is { } trace)
        {
            request.Headers.Add("traceparent", $"00-{trace}-{ActivitySpanId.CreateRandom()}-01");
        }

        using var response = await server.Client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return callerTrace ?? ActivityTraceId.CreateFromString(response.Headers.GetValues("X-Request-Id").Single());
    }

    [Fact]
    public async Task A_trace_sample_ratio_outside_0_to_1_stops_the_server_at_start_up()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => InferenceHost.StartAsync(new Dictionary<string, string?> { ["Maas:Observability:TraceSampleRatio"] = "1.5" }));
        Assert.Contains("TraceSampleRatio", error.Message);
    }

    [Fact]
    public async Task At_ratio_0_the_otlp_exporter_keeps_only_traces_the_caller_sampled_and_at_ratio_1_every_trace()
    {
        // Ratio 0: a request that starts its own trace is not exported; one under a sampled caller is (parent-based).
        await using var none = await OtlpReceiver.StartAsync();
        ActivityTraceId own, caller = ActivityTraceId.CreateRandom();
        await using (var server = await InferenceHost.StartAsync(Settings(none, "0")))
        {
            await server.RegisterAsync("sampled", TestModels.Mlp(4, [8], 3), new { max_batch_size = 4, max_queue_delay_ms = 0 });
            own = await InferAsync(server, "sampled");
            Assert.Equal(caller, await InferAsync(server, "sampled", caller));
        } // stopping the server flushes its exporter

        Assert.True(none.Contains(caller), "the caller's sampled trace was not exported");
        Assert.True(none.Contains("maas.queue") && none.Contains("maas.engine.run"));
        Assert.False(none.Contains(own), "a trace started by the server was exported at ratio 0");

        // Ratio 1 (the default): the same kind of request is exported.
        await using var all = await OtlpReceiver.StartAsync();
        await using (var server = await InferenceHost.StartAsync(Settings(all, "1")))
        {
            await server.RegisterAsync("kept", TestModels.Mlp(4, [8], 3), new { max_batch_size = 4, max_queue_delay_ms = 0 });
            own = await InferAsync(server, "kept");
        }

        Assert.True(all.Contains(own), "a trace started by the server was not exported at ratio 1");
    }

    /// <summary>An OTLP/HTTP receiver on loopback that keeps the raw protobuf bodies posted to it.</summary>
    private sealed class OtlpReceiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<byte[]> _bodies = new();

        private OtlpReceiver(WebApplication app) => _app = app;

        public Uri Endpoint { get; private set; } = null!;

        public static async Task<OtlpReceiver> StartAsync()
        {
            OtlpReceiver? receiver = null;
            var (_, address) = await LoopbackApp.StartAsync(app =>
            {
                receiver = new OtlpReceiver(app);
                app.MapPost("/{**path}", async (HttpContext ctx) =>
                {
                    using var body = new MemoryStream();
                    await ctx.Request.Body.CopyToAsync(body);
                    receiver._bodies.Enqueue(body.ToArray());
                    return Results.Bytes([], "application/x-protobuf");
                });
            });
            receiver!.Endpoint = new Uri(address, "v1/traces");
            return receiver;
        }

        // Spans carry their trace id as 16 raw bytes and their names as UTF-8 in the protobuf.
        public bool Contains(ActivityTraceId trace)
        {
            Span<byte> id = stackalloc byte[16];
            trace.CopyTo(id);
            foreach (var body in _bodies)
            {
                if (body.AsSpan().IndexOf(id) >= 0)
                {
                    return true;
                }
            }

            return false;
        }

        public bool Contains(string text) => _bodies.Any(b => b.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0);

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
