using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Maas.Server.Tests.Inference;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Observability;

public class MetricsEndpointTests
{
    private static string Infer(float value) =>
        InferenceHost.InferJson("input", "FP32", [1, 4], new JsonArray(value, value, value, value));

    [Fact]
    public async Task Inference_traffic_moves_the_per_model_counters_by_exactly_the_requests_made()
    {
        await using var server = await InferenceHost.StartAsync();
        await server.RegisterAsync("metered", TestModels.Mlp(4, [8], 3), new { max_batch_size = 8, max_queue_delay_ms = 1 });
        (await server.Client.PostJsonAsync("/v2/models/metered/infer", Infer(0.1f))).Response.EnsureSuccessStatusCode();

        var before = Sample(await Scrape(server), "maas_inference_requests_total{model=\"metered\",status=\"success\",version=\"1\"}");
        for (var i = 0; i < 5; i++)
        {
            (await server.Client.PostJsonAsync("/v2/models/metered/infer", Infer(i))).Response.EnsureSuccessStatusCode();
        }

        var bad = await server.Client.PostJsonAsync("/v2/models/metered/infer", InferenceHost.InferJson("input", "FP32", [1, 3], new JsonArray(1f, 2f, 3f)));
        Assert.Equal(HttpStatusCode.BadRequest, bad.Status);

        var text = await Scrape(server);
        Assert.Equal(before + 5, Sample(text, "maas_inference_requests_total{model=\"metered\",status=\"success\",version=\"1\"}"));
        Assert.True(Sample(text, "maas_inference_executions_total{model=\"metered\",version=\"1\"}") >= 1);
        Assert.True(Sample(text, "maas_inference_compute_duration_seconds_total{model=\"metered\",phase=\"infer\",version=\"1\"}") > 0);
        Assert.Equal(1, Sample(text, "maas_models_loaded_current{engine=\"onnxruntime\"}", orElse: Sample(text, "maas_models_loaded{engine=\"onnxruntime\"}")));
        Assert.Contains("http_server_request_duration_seconds_bucket{", text);
        Assert.Contains("dotnet_gc_heap_total_allocated_bytes_total", text);

        if (File.Exists("/usr/bin/promtool"))
        {
            var (exit, problems) = await Promtool(text);
            Assert.True(exit == 0, problems);
        }
    }

    [Fact]
    public async Task A_request_id_from_the_caller_comes_back_and_one_is_made_up_otherwise()
    {
        await using var server = await MaasTestServer.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/health/live");
        request.Headers.Add("X-Request-Id", "caller-id-42");
        var echoed = await server.Client.SendAsync(request);
        Assert.Equal("caller-id-42", echoed.Headers.GetValues("X-Request-Id").Single());

        var made = await server.Client.GetAsync("/health/live");
        Assert.False(string.IsNullOrEmpty(made.Headers.GetValues("X-Request-Id").Single()));
    }

    [Fact]
    public async Task Graceful_shutdown_turns_readiness_off_refuses_new_work_and_lets_in_flight_requests_finish()
    {
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?> { ["Maas:Shutdown:DrainSeconds"] = "3" });
        (await server.Client.PostAsync("/api/v1/models", JsonContent("""{"name":"drained"}"""))).EnsureSuccessStatusCode();
        var model = TestModels.Mlp(4, [8], 3);

        // An upload whose body arrives slowly is in flight when shutdown starts.
        var slow = new SlowContent(model, TimeSpan.FromMilliseconds(1500));
        slow.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
        slow.Headers.Add("X-Maas-Filename", "drained.onnx");
        var upload = server.Client.PostAsync("/api/v1/models/drained/versions", slow);
        await Task.Delay(300);
        var stopping = server.App.StopAsync();

        var readiness = await server.Client.GetAsync("/health/ready");
        for (var wait = Stopwatch.StartNew(); readiness.StatusCode == HttpStatusCode.OK && wait.ElapsedMilliseconds < 2000;)
        {
            await Task.Delay(20);
            readiness = await server.Client.GetAsync("/health/ready");
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, readiness.StatusCode);
        Assert.Contains("stopping", await readiness.Content.ReadAsStringAsync());
        var refused = await server.Client.GetAsync("/api/v1/models");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);

        var finished = await upload;
        Assert.Equal(HttpStatusCode.Created, finished.StatusCode);
        await stopping;
    }

    private static StringContent JsonContent(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    private static async Task<string> Scrape(MaasTestServer server)
    {
        var response = await server.Client.GetAsync("/metrics");
        response.EnsureSuccessStatusCode();
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.ToString());
        return await response.Content.ReadAsStringAsync();
    }

    private static double Sample(string text, string series, double orElse = 0)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return orElse;
    }

    private static async Task<(int Exit, string Output)> Promtool(string text)
    {
        using var check = Process.Start(new ProcessStartInfo("/usr/bin/promtool", "check metrics")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        await check.StandardInput.WriteAsync(text);
        check.StandardInput.Close();
        var output = await check.StandardOutput.ReadToEndAsync() + await check.StandardError.ReadToEndAsync();
        await check.WaitForExitAsync();
        return (check.ExitCode, output);
    }

    /// <summary>A body sent in small pieces over a given time, so the request stays in flight.</summary>
    private sealed class SlowContent(byte[] bytes, TimeSpan duration) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            const int Pieces = 10;
            var size = (bytes.Length + Pieces - 1) / Pieces;
            for (var offset = 0; offset < bytes.Length; offset += size)
            {
                await stream.WriteAsync(bytes.AsMemory(offset, Math.Min(size, bytes.Length - offset)));
                await stream.FlushAsync();
                await Task.Delay(duration / Pieces);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = bytes.Length;
            return true;
        }
    }
}
