using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Gguf;
using Maas.Server.Tests.OpenAi;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;
using Maas.Testing;

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

        // The scheduler counts a request just after its caller is answered: wait until the warm-up call shows.
        const string successes = "maas_inference_requests_total{model=\"metered\",status=\"success\",version=\"1\"}";
        const string latencyCount = "maas_inference_request_latency_seconds_count{model=\"metered\",status=\"success\",version=\"1\"}";
        var first = await ScrapeUntil(server, t => Sample(t, successes) >= 1 && Sample(t, latencyCount) >= 1);
        var before = Sample(first, successes);
        var histogramsBefore = Histograms.ToDictionary(h => h, h => Sample(first, h));
        for (var i = 0; i < 5; i++)
        {
            (await server.Client.PostJsonAsync("/v2/models/metered/infer", Infer(i))).Response.EnsureSuccessStatusCode();
        }

        var bad = await server.Client.PostJsonAsync("/v2/models/metered/infer", InferenceHost.InferJson("input", "FP32", [1, 3], new JsonArray(1f, 2f, 3f)));
        Assert.Equal(HttpStatusCode.BadRequest, bad.Status);

        var text = await ScrapeUntil(server, t => Sample(t, successes) >= before + 5 && Sample(t, latencyCount) >= histogramsBefore[latencyCount] + 5);
        Assert.Equal(before + 5, Sample(text, successes));
        Assert.True(Sample(text, "maas_inference_executions_total{model=\"metered\",version=\"1\"}") >= 1);
        Assert.True(Sample(text, "maas_inference_compute_duration_seconds_total{model=\"metered\",phase=\"infer\",version=\"1\"}") > 0);
        Assert.Equal(1, Sample(text, "maas_models_loaded_current{engine=\"onnxruntime\"}", orElse: Sample(text, "maas_models_loaded{engine=\"onnxruntime\"}")));
        Assert.DoesNotContain("http_server_request_duration_seconds", text, StringComparison.Ordinal); // the framework's meters are opt-in

        // Every keyed request, by protocol, route, model and status: the warm-up and 5 successes, and the bad one.
        const string route = "route=\"/v2/models/{model}/infer\"";
        var requests = await ScrapeUntil(server, t => SampleWith(t, "maas_request_duration_seconds_count{", "model=\"metered\"", "status=\"400\"") >= 1);
        Assert.Equal(6, SampleWith(requests, "maas_request_duration_seconds_count{", "model=\"metered\"", "protocol=\"oip-rest\"", route, "status=\"200\""));
        Assert.Equal(1, SampleWith(requests, "maas_request_duration_seconds_count{", "model=\"metered\"", "protocol=\"oip-rest\"", route, "status=\"400\""));

        // The histograms: one latency and queue observation per successful request, one compute and batch size per execution.
        var moved = Histograms.ToDictionary(h => h, h => Sample(text, h) - histogramsBefore[h]);
        var executions = moved["maas_inference_batch_size_count{model=\"metered\",version=\"1\"}"];
        Assert.Equal(5, moved["maas_inference_request_latency_seconds_count{model=\"metered\",status=\"success\",version=\"1\"}"]);
        Assert.Equal(5, moved["maas_inference_queue_time_seconds_count{model=\"metered\",version=\"1\"}"]);
        Assert.InRange(executions, 1, 5);
        Assert.Equal(executions, moved["maas_inference_compute_time_seconds_count{model=\"metered\",version=\"1\"}"]);
        Assert.Equal(5, moved["maas_inference_batch_size_sum{model=\"metered\",version=\"1\"}"]); // one row each
        Assert.True(moved["maas_inference_request_latency_seconds_sum{model=\"metered\",status=\"success\",version=\"1\"}"] > 0);
        Assert.True(moved["maas_inference_compute_time_seconds_sum{model=\"metered\",version=\"1\"}"] > 0);
        Assert.Equal(Sample(text, "maas_inference_request_latency_seconds_count{model=\"metered\",status=\"success\",version=\"1\"}"),
            Sample(text, "maas_inference_request_latency_seconds_bucket{model=\"metered\",status=\"success\",version=\"1\",le=\"+Inf\"}"));
        Assert.Equal(Sample(text, "maas_inference_batch_size_count{model=\"metered\",version=\"1\"}"),
            Sample(text, "maas_inference_batch_size_bucket{model=\"metered\",version=\"1\",le=\"1\"}")); // every batch held one row
        Assert.Contains("maas_inference_request_latency_seconds_bucket{model=\"metered\",status=\"success\",version=\"1\",le=\"0.0001\"}", text);
        Assert.Contains("dotnet_gc_heap_total_allocated_bytes_total", text);

        if (File.Exists("/usr/bin/promtool"))
        {
            var (exit, problems) = await Promtool(text);
            Assert.True(exit == 0, problems);
        }
    }

    [Fact]
    public async Task Llm_token_histograms_move_per_piece_of_text_and_another_apps_engines_never_show_up()
    {
        using var files = new TempDirectory("maas-metrics-llm");
        await using var server = await MaasTestServer.StartAsync(settings: LlmServerFixture.Settings);
        await using var other = await MaasTestServer.StartAsync();
        var gguf = Path.Combine(files.Path, "gen.gguf");
        GgufLlamaModelFactory.Write(gguf, new GgufLlamaModelOptions { Name = "maas-test-llm", Seed = 7 });
        await LlmServerFixture.RegisterAsync(server.Client, "metered-llm", await File.ReadAllBytesAsync(gguf), "gen.gguf");
        const string Labels = "{model=\"metered-llm\",version=\"1\"}";
        var before = await Scrape(server);

        using var response = await server.Client.PostAsync("/v1/chat/completions", JsonContent(
            """{"model":"metered-llm","max_tokens":6,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = await LlmServerFixture.ReadEventsAsync(response);
        var pieces = events.Count(e => e.GetProperty("choices") is { ValueKind: System.Text.Json.JsonValueKind.Array } c && c.GetArrayLength() > 0
            && c[0].GetProperty("delta").TryGetProperty("content", out var content) && content.GetString()!.Length > 0);
        var usage = events[^1].GetProperty("usage");
        Assert.True(pieces >= 1);

        var after = await Scrape(server);
        double Moved(string series) => Sample(after, series) - Sample(before, series);
        Assert.Equal(1, Moved("maas_llm_time_to_first_token_seconds_count" + Labels));
        Assert.Equal(pieces - 1, Moved("maas_llm_inter_token_latency_seconds_count" + Labels));
        Assert.Equal(usage.GetProperty("completion_tokens").GetInt32(), Moved("maas_llm_generated_tokens_total" + Labels));
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32(), Moved("maas_llm_prompt_tokens_total" + Labels));
        Assert.Contains("maas_llm_time_to_first_token_seconds_bucket{model=\"metered-llm\",version=\"1\",le=\"0.005\"}", after);
        Assert.Equal(1, Sample(after, "maas_llm_loaded_models"));

        // Each app exports its own meter: the other server has no engine loaded and says so once.
        var elsewhere = await Scrape(other);
        Assert.Single(elsewhere.Split('\n'), l => l.StartsWith("maas_llm_loaded_models ", StringComparison.Ordinal));
        Assert.Equal(0, Sample(elsewhere, "maas_llm_loaded_models", orElse: -1));
        Assert.DoesNotContain("metered-llm", elsewhere);
        Assert.Single(after.Split('\n'), l => l.StartsWith("maas_llm_loaded_models ", StringComparison.Ordinal));

        if (File.Exists("/usr/bin/promtool"))
        {
            var (exit, problems) = await Promtool(after);
            Assert.True(exit == 0, problems);
        }
    }

    [Fact]
    public async Task Loads_are_timed_per_model_version_and_failed_loads_counted()
    {
        await using var server = await InferenceHost.StartAsync();
        await server.RegisterAsync("load-timed", TestModels.Mlp(4, [8], 3));
        (await server.Client.PostJsonAsync("/v2/models/load-timed/infer", Infer(0.1f))).Response.EnsureSuccessStatusCode();
        // A registered model whose stored file went missing: its first request starts a load that fails.
        var model = TestModels.Mlp(4, [5], 3);
        await server.RegisterAsync("load-broken", model);
        var artifact = Directory.EnumerateFiles(server.DataDir, "*", SearchOption.AllDirectories)
            .Single(f => new FileInfo(f).Length == model.Length && File.ReadAllBytes(f).AsSpan().SequenceEqual(model));
        File.Move(artifact, artifact + ".away");
        var broken = await server.Client.PostJsonAsync("/v2/models/load-broken/infer", Infer(0.1f));
        Assert.False(broken.Response.IsSuccessStatusCode);

        const string loaded = "maas_model_load_duration_seconds_count{engine=\"onnxruntime\",model=\"load-timed\",status=\"success\",version=\"1\"}";
        const string failed = "maas_model_load_duration_seconds_count{engine=\"onnxruntime\",model=\"load-broken\",status=\"failure\",version=\"1\"}";
        const string failures = "maas_model_load_failures_total{engine=\"onnxruntime\",model=\"load-broken\",version=\"1\"}";
        var text = await ScrapeUntil(server, t => Sample(t, loaded) >= 1 && Sample(t, failures) >= 1);
        Assert.Equal(1, Sample(text, loaded));
        Assert.Equal(1, Sample(text, failed));
        Assert.Equal(1, Sample(text, failures));
        Assert.Equal(0, Sample(text, failures.Replace("load-broken", "load-timed", StringComparison.Ordinal)));
        Assert.True(Sample(text, loaded.Replace("_count{", "_sum{", StringComparison.Ordinal)) > 0);
        Assert.Equal(1, Sample(text, "maas_model_instances{engine=\"onnxruntime\",model=\"load-timed\",version=\"1\"}"));
        Assert.Equal(0, Sample(text, "maas_model_instances{engine=\"onnxruntime\",model=\"load-broken\",version=\"1\"}", orElse: -1));
    }

    [Fact]
    public async Task With_metrics_off_there_is_no_metrics_endpoint_and_serving_still_works()
    {
        await using var server = await InferenceHost.StartAsync(new Dictionary<string, string?> { ["Maas:Observability:Metrics"] = "false" });
        await server.RegisterAsync("unmetered", TestModels.Mlp(4, [8], 3));
        (await server.Client.PostJsonAsync("/v2/models/unmetered/infer", Infer(0.1f))).Response.EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.NotFound, (await server.Client.GetAsync("/metrics")).StatusCode);
    }

    [Fact]
    public async Task The_frameworks_http_server_meters_are_exported_when_asked_for()
    {
        await using var server = await InferenceHost.StartAsync(new Dictionary<string, string?> { ["Maas:Observability:HttpServerMetrics"] = "true" });
        await server.RegisterAsync("framework-metered", TestModels.Mlp(4, [8], 3));
        (await server.Client.PostJsonAsync("/v2/models/framework-metered/infer", Infer(0.1f))).Response.EnsureSuccessStatusCode();
        var text = await ScrapeUntil(server, t => t.Contains("http_server_request_duration_seconds_bucket{", StringComparison.Ordinal));
        Assert.Contains("http_server_request_duration_seconds_bucket{", text, StringComparison.Ordinal);
        Assert.Contains("maas_request_duration_seconds_bucket{", text, StringComparison.Ordinal);
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
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?> { ["Maas:Shutdown:DrainSeconds"] = "10" });
        (await server.Client.PostAsync("/api/v1/models", JsonContent("""{"name":"drained"}"""))).EnsureSuccessStatusCode();
        var model = TestModels.Mlp(4, [8], 3);

        // An upload whose body arrives slowly is in flight when shutdown starts. It asks to continue, so its body is
        // sent once the server reads it: once the upload's handler runs, past the refusal of new work.
        var slow = new SlowContent(model, TimeSpan.FromMilliseconds(1500));
        slow.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
        slow.Headers.Add("X-Maas-Filename", "drained.onnx");
        using var uploader = new HttpClient(new SocketsHttpHandler { Expect100ContinueTimeout = Conditions.Ceiling })
        {
            BaseAddress = server.BaseAddress,
            Timeout = Timeout.InfiniteTimeSpan
        };
        uploader.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", MaasTestServer.AdminKey);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/models/drained/versions") { Content = slow };
        request.Headers.ExpectContinue = true;
        var upload = uploader.SendAsync(request);
        await Conditions.WaitUntilAsync(() => slow.Sending, "the server reads the upload's body");
        var stopping = server.App.StopAsync();

        var readiness = await Conditions.ReadUntilAsync(() => server.Client.GetAsync("/health/ready"), r => r.StatusCode != HttpStatusCode.OK, "readiness turns off");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, readiness.StatusCode);
        Assert.Contains("stopping", await readiness.Content.ReadAsStringAsync());
        var refused = await server.Client.GetAsync("/api/v1/models");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);

        var finished = await upload;
        Assert.Equal(HttpStatusCode.Created, finished.StatusCode);
        await stopping;
    }

    [Fact]
    public async Task New_work_during_shutdown_is_refused_in_each_protocols_error_format()
    {
        // A long drain holds the listener open while the refusals are read; cancelling the stop ends it.
        await using var server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?> { ["Maas:Shutdown:DrainSeconds"] = "300" });
        using var cancelDrain = new CancellationTokenSource();
        var stopping = server.App.StopAsync(cancelDrain.Token);
        await Conditions.ReadUntilAsync(() => server.Client.GetAsync("/health/ready"), r => r.StatusCode != HttpStatusCode.OK, "readiness turns off");

        var management = await server.Client.GetAsync("/api/v1/models");
        var openAi = await server.Client.GetAsync("/v1/models");
        var oip = await server.Client.GetAsync("/v2");

        foreach (var refused in new[] { management, openAi, oip })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("1", refused.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal("application/json", refused.Content.Headers.ContentType?.MediaType);
        }

        using (var body = System.Text.Json.JsonDocument.Parse(await management.Content.ReadAsStringAsync()))
        {
            Assert.Equal("shutting_down", body.RootElement.GetProperty("error").GetProperty("code").GetString());
            Assert.Contains("shutting down", body.RootElement.GetProperty("error").GetProperty("message").GetString());
        }

        using (var body = System.Text.Json.JsonDocument.Parse(await openAi.Content.ReadAsStringAsync()))
        {
            var error = body.RootElement.GetProperty("error");
            Assert.Equal("server_error", error.GetProperty("type").GetString());
            Assert.Equal("shutting_down", error.GetProperty("code").GetString());
            Assert.Contains("shutting down", error.GetProperty("message").GetString());
        }

        using (var body = System.Text.Json.JsonDocument.Parse(await oip.Content.ReadAsStringAsync()))
        {
            Assert.Contains("shutting down", body.RootElement.GetProperty("error").GetString());
        }

        await cancelDrain.CancelAsync();
        await stopping;
    }

    private static readonly string[] Histograms =
    [
        "maas_inference_request_latency_seconds_count{model=\"metered\",status=\"success\",version=\"1\"}",
        "maas_inference_request_latency_seconds_sum{model=\"metered\",status=\"success\",version=\"1\"}",
        "maas_inference_queue_time_seconds_count{model=\"metered\",version=\"1\"}",
        "maas_inference_compute_time_seconds_count{model=\"metered\",version=\"1\"}",
        "maas_inference_compute_time_seconds_sum{model=\"metered\",version=\"1\"}",
        "maas_inference_batch_size_count{model=\"metered\",version=\"1\"}",
        "maas_inference_batch_size_sum{model=\"metered\",version=\"1\"}",
    ];

    private static StringContent JsonContent(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    // The sum of the samples of one metric whose labels include all of the given ones.
    private static double SampleWith(string text, string prefix, params string[] labels) =>
        text.Split('\n')
            .Where(l => l.StartsWith(prefix, StringComparison.Ordinal) && labels.All(x => l.Contains(x, StringComparison.Ordinal)))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));

    // Scrapes until the condition holds (counters move just after callers are answered).
    private static Task<string> ScrapeUntil(MaasTestServer server, Func<string, bool> condition) =>
        Conditions.ReadUntilAsync(() => Scrape(server), condition, "the scraped metrics show the requests made", show: text => text);

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
        private volatile bool _sending;

        /// <summary>True once the body has started to go out.</summary>
        public bool Sending => _sending;

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            _sending = true;
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
