using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Gguf;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.OpenAi;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;
using Maas.Testing;

namespace Maas.Server.Tests.Observability;

public class TracingTests
{
    private const string AspNetCore = "Microsoft.AspNetCore";

    private static string Infer(float value) =>
        InferenceHost.InferJson("input", "FP32", [1, 4], new JsonArray(value, value, value, value));

    private static HttpRequestMessage Post(string path, string json, string traceparent)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("traceparent", traceparent);
        return request;
    }

    private static Activity Single(IReadOnlyList<Activity> spans, string name) =>
        Assert.Single(spans, s => s.OperationName == name || s.DisplayName == name);

    [Fact]
    public async Task An_inference_request_with_a_traceparent_gets_queue_batch_engine_and_encode_spans_under_the_callers_trace()
    {
        using var collector = new SpanCollector();
        await using var server = await InferenceHost.StartAsync();
        await server.RegisterAsync("traced", TestModels.Mlp(4, [8], 3), new { max_batch_size = 8, max_queue_delay_ms = 0 });
        (await server.Client.PostJsonAsync("/v2/models/traced/infer", Infer(0.5f))).Response.EnsureSuccessStatusCode(); // loaded, untraced

        var caller = collector.NewCaller();
        using var response = await server.Client.SendAsync(Post("/v2/models/traced/infer", Infer(0.1f), caller.Header));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var spans = await collector.WaitAsync(caller.Trace, s => s.Count(x => x.Source.Name == AspNetCore) == 1 && s.Count(x => x.Source.Name == "Maas") == 4);
        Assert.All(spans, s => Assert.Equal(caller.Trace, s.TraceId));
        var request = Assert.Single(spans, s => s.Source.Name == AspNetCore);
        Assert.Equal(caller.Span, request.ParentSpanId); // W3C trace context from the caller
        Assert.Equal(ActivityKind.Server, request.Kind);

        var queue = Single(spans, "maas.queue");
        var batch = Single(spans, "maas.batch");
        var run = Single(spans, "maas.engine.run");
        var encode = Single(spans, "maas.encode");
        Assert.Equal(request.SpanId, queue.ParentSpanId);
        Assert.Equal(request.SpanId, batch.ParentSpanId);
        Assert.Equal(batch.SpanId, run.ParentSpanId);
        Assert.Equal(request.SpanId, encode.ParentSpanId);
        foreach (var span in new[] { queue, batch, run, encode })
        {
            Assert.Equal("traced", span.GetTagItem("maas.model"));
            Assert.Equal("1", span.GetTagItem("maas.model.version"));
        }

        Assert.Equal(1L, batch.GetTagItem("maas.batch.size"));
        Assert.Equal(1, batch.GetTagItem("maas.batch.requests"));
        Assert.Equal("v2-rest", encode.GetTagItem("maas.protocol"));
        Assert.Contains(batch.Links, l => l.Context.SpanId == request.SpanId);

        // Children lie inside the request and in order: queue, then the batch holding the engine run, then encoding.
        Assert.True(queue.StartTimeUtc >= request.StartTimeUtc && queue.StartTimeUtc + queue.Duration <= batch.StartTimeUtc + TimeSpan.FromMilliseconds(1));
        Assert.True(run.StartTimeUtc >= batch.StartTimeUtc && run.StartTimeUtc + run.Duration <= batch.StartTimeUtc + batch.Duration);
        Assert.True(encode.StartTimeUtc >= batch.StartTimeUtc);
        Assert.True(run.Duration > TimeSpan.Zero);
    }

    [Fact]
    public async Task Requests_batched_together_share_one_batch_span_that_links_every_callers_trace()
    {
        using var collector = new SpanCollector();
        await using var server = await InferenceHost.StartAsync();
        // A long queue delay holds the first request until the second arrives (or the batch fills at 2).
        await server.RegisterAsync("batched", TestModels.Mlp(4, [8], 3), new { max_batch_size = 2, max_queue_delay_ms = 3000 });
        var warm = server.Client.PostJsonAsync("/v2/models/batched/infer", Infer(0.5f));
        (await server.Client.PostJsonAsync("/v2/models/batched/infer", Infer(0.6f))).Response.EnsureSuccessStatusCode();
        (await warm).Response.EnsureSuccessStatusCode();

        var a = collector.NewCaller();
        var b = collector.NewCaller();
        var first = server.Client.SendAsync(Post("/v2/models/batched/infer", Infer(0.1f), a.Header));
        var second = server.Client.SendAsync(Post("/v2/models/batched/infer", Infer(0.2f), b.Header));
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second).StatusCode);

        var spansA = await collector.WaitAsync(a.Trace, s => s.Any(x => x.Source.Name == AspNetCore) && s.Any(x => x.OperationName == "maas.encode"));
        var spansB = await collector.WaitAsync(b.Trace, s => s.Any(x => x.Source.Name == AspNetCore) && s.Any(x => x.OperationName == "maas.encode"));

        // The batch span is built after its callers are released, so it can end after both requests' own spans.
        await Conditions.WaitUntilAsync(
            () => collector.Spans(a.Trace).Concat(collector.Spans(b.Trace)).Any(s => s.OperationName == "maas.batch"),
            "the batch span is collected");
        spansA = collector.Spans(a.Trace);
        spansB = collector.Spans(b.Trace);

        var batch = Assert.Single(spansA.Concat(spansB), s => s.OperationName == "maas.batch");
        Assert.Equal(2L, batch.GetTagItem("maas.batch.size"));
        Assert.Equal(2, batch.GetTagItem("maas.batch.requests"));
        var requestA = Assert.Single(spansA, s => s.Source.Name == AspNetCore);
        var requestB = Assert.Single(spansB, s => s.Source.Name == AspNetCore);
        Assert.Contains(batch.Links, l => l.Context.TraceId == a.Trace && l.Context.SpanId == requestA.SpanId);
        Assert.Contains(batch.Links, l => l.Context.TraceId == b.Trace && l.Context.SpanId == requestB.SpanId);

        // Each request has its own queue span in its own trace.
        Assert.Equal(requestA.SpanId, Single(spansA, "maas.queue").ParentSpanId);
        Assert.Equal(requestB.SpanId, Single(spansB, "maas.queue").ParentSpanId);
    }

    [Fact]
    public async Task A_grpc_model_infer_with_a_traceparent_gets_the_same_child_spans()
    {
        using var collector = new SpanCollector();
        await using var server = await InferenceHost.StartAsync();
        await server.RegisterAsync("traced-grpc", TestModels.Mlp(4, [8], 3), new { max_batch_size = 8, max_queue_delay_ms = 0 });
        using var grpc = new GrpcTestClient(server.GrpcAddress());
        var request = new ModelInferRequest { ModelName = "traced-grpc" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Contents = new InferTensorContents() };
        input.Shape.Add([1, 4]);
        input.Contents.Fp32Contents.Add([1, 2, 3, 4]);
        request.Inputs.Add(input);
        Assert.Equal(0, (await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser)).Status); // loaded, untraced

        var caller = collector.NewCaller();
        var result = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser, new Dictionary<string, string> { ["traceparent"] = caller.Header });
        Assert.Equal(0, result.Status);

        var spans = await collector.WaitAsync(caller.Trace, s => s.Any(x => x.Source.Name == AspNetCore) && s.Count(x => x.Source.Name == "Maas") == 4);
        var call = Assert.Single(spans, s => s.Source.Name == AspNetCore);
        Assert.Equal(caller.Span, call.ParentSpanId);
        Assert.Equal(call.SpanId, Single(spans, "maas.queue").ParentSpanId);
        Assert.Equal(call.SpanId, Single(spans, "maas.batch").ParentSpanId);
        Assert.Equal(Single(spans, "maas.batch").SpanId, Single(spans, "maas.engine.run").ParentSpanId);
        var encode = Single(spans, "maas.encode");
        Assert.Equal(call.SpanId, encode.ParentSpanId);
        Assert.Equal("v2-grpc", encode.GetTagItem("maas.protocol"));
    }

    [Fact]
    public async Task With_tracing_off_a_traced_caller_gets_no_maas_spans()
    {
        using var collector = new SpanCollector();
        await using var server = await InferenceHost.StartAsync(new Dictionary<string, string?> { ["Maas:Observability:Tracing"] = "false" });
        await server.RegisterAsync("untraced", TestModels.Mlp(4, [8], 3));
        var caller = collector.NewCaller();
        using var response = await server.Client.SendAsync(Post("/v2/models/untraced/infer", Infer(0.1f), caller.Header));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var spans = await collector.WaitAsync(caller.Trace, s => s.Any(x => x.Source.Name == AspNetCore));
        Assert.Single(spans, s => s.Source.Name == AspNetCore); // ASP.NET Core's own request span is not ours to switch off

        // The model's one instance runs one batch at a time and makes a batch's spans before it takes the next: once
        // a later request is answered, whatever the first one's batch would have traced has been.
        using (var later = await server.Client.PostAsync("/v2/models/untraced/infer", new StringContent(Infer(0.2f), Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, later.StatusCode);
        }

        Assert.DoesNotContain(collector.Spans(caller.Trace), s => s.Source.Name == "Maas");
    }

    // A server serving a generated tiny Llama as model.
    private static async Task<MaasTestServer> StartWithLlmAsync(string model)
    {
        using var files = new TempDirectory("maas-trace-llm");
        var gguf = Path.Combine(files.Path, "gen.gguf");
        GgufLlamaModelFactory.Write(gguf, new GgufLlamaModelOptions { Name = "maas-test-llm", Seed = 7 });
        var server = await MaasTestServer.StartAsync(settings: LlmServerFixture.Settings);
        try
        {
            await LlmServerFixture.RegisterAsync(server.Client, model, await File.ReadAllBytesAsync(gguf), "gen.gguf");
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    [Fact]
    public async Task A_chat_completion_gets_a_gen_ai_span_with_queue_engine_and_encode_children()
    {
        using var collector = new SpanCollector();
        await using var server = await StartWithLlmAsync("chatty");

        var caller = collector.NewCaller();
        using var response = await server.Client.SendAsync(Post("/v1/chat/completions",
            """{"model":"chatty","max_tokens":5,"messages":[{"role":"user","content":"Hello there"}]}""", caller.Header));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        using var json = JsonDocument.Parse(body);
        var usage = json.RootElement.GetProperty("usage");
        var finish = json.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString();

        var spans = await collector.WaitAsync(caller.Trace, s => s.Any(x => x.Source.Name == AspNetCore) && s.Any(x => x.DisplayName == "chat chatty"));
        var request = Assert.Single(spans, s => s.Source.Name == AspNetCore);
        Assert.Equal(caller.Span, request.ParentSpanId);
        var generation = Single(spans, "chat chatty");
        Assert.Equal(request.SpanId, generation.ParentSpanId);
        Assert.Equal("llama.cpp", generation.GetTagItem("gen_ai.system"));
        Assert.Equal("chat", generation.GetTagItem("gen_ai.operation.name"));
        Assert.Equal("chatty", generation.GetTagItem("gen_ai.request.model"));
        Assert.Equal(5, generation.GetTagItem("gen_ai.request.max_tokens"));
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32(), generation.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Equal(usage.GetProperty("completion_tokens").GetInt64(), generation.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.Equal(new[] { finish }, (string[])generation.GetTagItem("gen_ai.response.finish_reasons")!);
        Assert.Equal(ActivityStatusCode.Unset, generation.Status);

        var queue = Single(spans, "maas.queue");
        var run = Single(spans, "maas.engine.run");
        var encode = Single(spans, "maas.encode");
        Assert.All(new[] { queue, run, encode }, s => Assert.Equal(generation.SpanId, s.ParentSpanId));
        Assert.Equal("chatty", run.GetTagItem("maas.model"));
        Assert.Equal(usage.GetProperty("completion_tokens").GetInt32(), run.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.True(queue.StartTimeUtc + queue.Duration <= run.StartTimeUtc + TimeSpan.FromMilliseconds(1));
        Assert.True(run.Duration > TimeSpan.Zero);
        Assert.True(encode.StartTimeUtc + encode.Duration <= generation.StartTimeUtc + generation.Duration + TimeSpan.FromMilliseconds(1));
    }

    [Fact]
    public async Task An_embeddings_request_gets_a_gen_ai_span_named_for_embeddings()
    {
        using var collector = new SpanCollector();
        await using var server = await StartWithLlmAsync("embedder");

        foreach (var (path, body) in new[]
        {
            ("/v1/embeddings", """{"model":"embedder","input":"Hello there"}"""),
            ("/api/embed", """{"model":"embedder","input":"Hello there"}"""),
        })
        {
            var caller = collector.NewCaller();
            using var response = await server.Client.SendAsync(Post(path, body, caller.Header));
            Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
            var spans = await collector.WaitAsync(caller.Trace,
                s => s.Any(x => x.DisplayName.StartsWith("embeddings ", StringComparison.Ordinal) || x.DisplayName.StartsWith("text_completion ", StringComparison.Ordinal)));
            var generation = Single(spans, "embeddings embedder");
            Assert.Equal("embeddings", generation.GetTagItem("gen_ai.operation.name"));
            Assert.True((int)generation.GetTagItem("gen_ai.usage.input_tokens")! > 0);
        }
    }
}
