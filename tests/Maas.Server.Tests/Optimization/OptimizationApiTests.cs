using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Onnx;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Tenancy;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Optimization;

/// <summary>A fact that needs an x86-64 CPU with AVX2, where ONNX Runtime's layout level writes NCHWc operators.</summary>
public sealed class X86VectorFactAttribute : FactAttribute
{
    /// <summary>Skipped, saying why, on CPUs without AVX2.</summary>
    public X86VectorFactAttribute()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            Skip = "needs an x86-64 CPU with AVX2: elsewhere ONNX Runtime writes no NCHWc operators to refuse";
        }
    }
}

/// <summary>A tenancy server whose in-process job worker polls fast and times few calls per model.</summary>
public sealed class OptimizationHostFixture : IAsyncLifetime
{
    private TenancyHost? _host;

    public TenancyHost Host => _host ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _host = await TenancyHost.StartAsync(new Dictionary<string, string?>
    {
        ["Maas:Training:PollMilliseconds"] = "100",
        ["Maas:Optimization:TimedRuns"] = "3",
        ["Maas:Optimization:Threads"] = "2",
        ["Maas:Optimization:ServeRejected:0"] = $"{ForcedModel}/versions/2",
    });

    /// <summary>A model whose version 2 an administrator serves even when rejected.</summary>
    public const string ForcedModel = "opt-forced";

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}

/// <summary>:optimize through the API: queued, run by a worker, measured, gated, registered with lineage; rejected versions not served.</summary>
public sealed class OptimizationApiTests(OptimizationHostFixture fixture) : IClassFixture<OptimizationHostFixture>
{
    private TenancyHost Host => fixture.Host;

    private static byte[] Mlp(float scale = 1, bool softmax = true)
    {
        var layers = DenseLayer.RandomStack(32, [64], 8, seed: 11).Select(l => l with { Weight = l.Weight.Select(w => w * scale).ToArray() }).ToArray();
        return OnnxModelWriter.Mlp(layers, softmax: softmax).ToBytes();
    }

    private static async Task<JsonNode> OptimizeAsync(HttpClient client, string model, int version, string body)
    {
        using var response = await client.PostAsync($"api/v1/models/{model}/versions/{version}:optimize", Api.Json(body));
        var job = await response.JsonAsync(HttpStatusCode.Accepted);
        Assert.Equal("queued", (string?)job["status"]);
        Assert.Equal("optimization", (string?)job["kind"]);
        Assert.Equal($"/api/v1/jobs/{job["id"]}", response.Headers.Location?.ToString());
        return await client.WaitForJobAsync((string)job["id"]!, TimeSpan.FromMinutes(3));
    }

    private static async Task<HttpResponseMessage> InferAsync(HttpClient client, string model, int version)
    {
        var data = string.Join(",", Enumerable.Range(0, 32).Select(i => (i / 32.0).ToString(CultureInfo.InvariantCulture)));
        return await client.PostAsync($"v2/models/{model}/versions/{version}/infer",
            Api.Json($$"""{"inputs": [{"name": "input", "shape": [1, 32], "datatype": "FP32", "data": [{{data}}]}]}"""));
    }

    [Fact]
    public async Task Int8_weights_are_given_by_weight_type_and_keep_seven_bits_unless_reduce_range_is_false()
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        var source = (int)(await client.UploadAsync(model, Mlp(), "model.onnx"))["version"]!;
        foreach (var (options, levels) in new[] { ("""{"weight_type": "int8"}""", 63), ("""{"weight_type": "int8", "reduce_range": false}""", 127) })
        {
            var job = await OptimizeAsync(client, model, source, $$$"""{"method": "onnx-int8-dynamic", "options": {{{options}}}, "gate": {"max_size_ratio": 0.6}}""");
            Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
            var rewrite = job["result"]!["report"]!["rewrite"]!;
            Assert.Equal("int8", (string?)rewrite["weight_type"]);
            Assert.Equal(levels, (int)rewrite["weight_levels"]!);
        }
    }

    [Fact]
    public async Task Int8_dynamic_of_an_uploaded_mlp_is_a_ready_version_derived_from_its_source_that_serves()
    {
        var (_, _, client) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite, MaasScopes.Infer);
        var model = await client.CreateModelAsync();
        var source = (int)(await client.UploadAsync(model, Mlp(), "model.onnx"))["version"]!;

        var job = await OptimizeAsync(client, model, source,
            """{"method": "onnx-int8-dynamic", "alias": "fast", "gate": {"max_relative_mean_abs_diff": 0.05, "min_top1_agreement": 0.9, "max_size_ratio": 0.6}}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        Assert.Equal(100, (double)job["progress"]!);
        var result = job["result"]!;
        Assert.Equal(model, (string?)result["model"]);
        Assert.Equal("ready", (string?)result["status"]);
        var report = result["report"]!;
        Assert.True((long)report["size_bytes"]! < (long)report["source_size_bytes"]!, report.ToJsonString());
        Assert.True((bool)report["gate"]!["passed"]!);
        Assert.Contains(report["gate"]!["checks"]!.AsArray(), c => (string?)c!["name"] == "max_size_ratio" && (bool)c["passed"]!);
        Assert.True((double)report["latency_p50_ms"]! > 0 && (double)report["source_latency_p50_ms"]! > 0);
        Assert.Equal(2, (int)report["rewrite"]!["matmuls_quantized"]!);
        Assert.Equal("uint8", (string?)report["rewrite"]!["weight_type"]); // exact on every CPU unless int8 is asked for
        Assert.Equal(127, (int)report["rewrite"]!["weight_levels"]!);

        // Throughput next to latency: items per second at the default batch of 16 (the MLP's batch dimension is open).
        Assert.Equal(16, (int)report["throughput_batch"]!);
        Assert.Null(report["throughput_note"]);
        foreach (var (throughput, latency) in new[] { ("throughput_per_second", "latency_p50_ms"), ("source_throughput_per_second", "source_latency_p50_ms") })
        {
            var single = 1000 / (double)report[latency]!;
            var items = (double)report[throughput]!;
            Assert.True(items > single / 20 && items < single * 16 * 4, $"{throughput} {items:0} against {single:0} calls/s at batch 1: {report.ToJsonString()}");
        }

        Assert.Equal((double)report["throughput_per_second"]! / (double)report["source_throughput_per_second"]!, (double)report["throughput_ratio"]!, 6);

        var number = (int)result["version"]!;
        var version = await (await client.GetAsync($"api/v1/models/{model}/versions/{number}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(model, (string?)version["derived_from"]!["model"]);
        Assert.Equal(source, (int)version["derived_from"]!["version"]!);
        Assert.Equal("quantized", (string?)version["derived_from"]!["relation"]);
        Assert.Equal("ready", (string?)version["optimization"]!["status"]);
        Assert.Equal((string?)job["id"], (string?)version["optimization"]!["job"]);
        Assert.Equal(number, (int)(await (await client.GetAsync($"api/v1/models/{model}/aliases/fast")).JsonAsync(HttpStatusCode.OK))["version"]!);

        using var served = await InferAsync(client, model, number);
        var answer = await served.JsonAsync(HttpStatusCode.OK);
        Assert.Equal(8, answer["outputs"]![0]!["data"]!.AsArray().Count);

        var events = await (await client.GetAsync($"api/v1/jobs/{job["id"]}/events")).JsonAsync(HttpStatusCode.OK);
        var types = events["events"]!.AsArray().Select(e => (string?)e!["type"]).ToArray();
        Assert.Contains("progress", types);
        Assert.Contains("metrics", types);
        Assert.True((bool)events["finished"]!);
    }

    [Fact]
    public async Task The_new_version_keeps_what_the_source_does_but_not_the_jobs_that_made_the_source()
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        var source = (int)(await client.UploadAsync(model, Mlp(), "model.onnx"))["version"]!;
        // As a fine-tuning job leaves its output (clients may not set maas.* keys, so written as the server does).
        var registry = Host.Server.Services.GetRequiredService<IModelRegistry>();
        var made = new Dictionary<string, string>
        {
            ["maas.fine_tuning.job"] = "ftjob-source",
            ["maas.fine_tuning.checkpoint"] = "ftjob-source/3",
            ["maas.fine_tuning.base"] = "base/versions/1",
        };
        foreach (var (key, value) in made)
        {
            await registry.SetVersionMetadataAsync(model, source, key, value, CancellationToken.None);
        }

        var job = await OptimizeAsync(client, model, source, """{"method": "onnx-int8-dynamic"}""");
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());

        var metadata = (await registry.GetVersionAsync(model, (int)job["result"]!["version"]!, CancellationToken.None)).Metadata;
        // A retried fine-tuning job 'ftjob-source' must find only its own version, not this one.
        Assert.False(metadata.ContainsKey("maas.fine_tuning.job"), string.Join(", ", metadata.Keys));
        Assert.False(metadata.ContainsKey("maas.fine_tuning.checkpoint"), string.Join(", ", metadata.Keys));
        Assert.Equal("base/versions/1", metadata["maas.fine_tuning.base"]);
        Assert.Equal((string?)job["id"], metadata["maas.job"]);
    }

    [Fact]
    public async Task A_gate_the_rewrite_cannot_meet_rejects_it_with_the_failed_checks_and_one_it_meets_passes()
    {
        var (_, _, client) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite, MaasScopes.Infer);
        var model = await client.CreateModelAsync();
        var source = (int)(await client.UploadAsync(model, Mlp(), "model.onnx"))["version"]!;

        // int8 weights always move the outputs a little, and nothing runs 1000 times faster: both checks must fail.
        var failing = await OptimizeAsync(client, model, source, """{"method": "onnx-int8-dynamic", "alias": "fast", "options": {"throughput_batch": 8}, "gate":""" +
            """ {"max_abs_diff": 0, "min_throughput_ratio": 1000, "max_size_ratio": 0.6}}""");

        Assert.True((string?)failing["status"] == "succeeded", failing.ToJsonString());
        var result = failing["result"]!;
        Assert.Equal("rejected", (string?)result["status"]);
        var checks = result["report"]!["gate"]!["checks"]!.AsArray().ToDictionary(c => (string)c!["name"]!, c => c!);
        Assert.False((bool)result["report"]!["gate"]!["passed"]!);
        Assert.False((bool)checks["max_abs_diff"]["passed"]!);
        Assert.True((double)checks["max_abs_diff"]["value"]! > 0);
        Assert.Equal(0, (double)checks["max_abs_diff"]["threshold"]!);
        Assert.False((bool)checks["min_throughput_ratio"]["passed"]!);
        Assert.Equal((double)result["report"]!["throughput_ratio"]!, (double)checks["min_throughput_ratio"]["value"]!);
        Assert.Equal(8, (int)result["report"]!["throughput_batch"]!);
        Assert.True((bool)checks["max_size_ratio"]["passed"]!); // the report says which held, too
        Assert.True((bool)checks["finite_outputs"]["passed"]!);
        var rejected = (int)result["version"]!;
        using (var refused = await InferAsync(client, model, rejected))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        }

        await (await client.GetAsync($"api/v1/models/{model}/aliases/fast")).ErrorAsync(HttpStatusCode.NotFound, "alias_not_found");

        // The same rewrite under thresholds it meets is ready, takes the alias and serves.
        var passing = await OptimizeAsync(client, model, source,
            """{"method": "onnx-int8-dynamic", "alias": "fast", "gate": {"max_abs_diff": 0.5, "min_throughput_ratio": 0.01, "max_size_ratio": 0.6}}""");

        Assert.Equal("ready", (string?)passing["result"]!["status"]);
        Assert.All(passing["result"]!["report"]!["gate"]!["checks"]!.AsArray(), c => Assert.True((bool)c!["passed"]!, c.ToJsonString()));
        var ready = (int)passing["result"]!["version"]!;
        Assert.Equal(ready, (int)(await (await client.GetAsync($"api/v1/models/{model}/aliases/fast")).JsonAsync(HttpStatusCode.OK))["version"]!);
        using var served = await InferAsync(client, model, ready);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task Fp16_of_a_model_whose_values_overflow_float16_is_rejected_kept_and_not_served()
    {
        var (_, _, client) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite, MaasScopes.Infer);
        var model = await client.CreateModelAsync();
        var source = (int)(await client.UploadAsync(model, Mlp(scale: 1e6f, softmax: false), "model.onnx"))["version"]!;

        var job = await OptimizeAsync(client, model, source, """{"method": "onnx-fp16", "alias": "prod"}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var result = job["result"]!;
        Assert.Equal("rejected", (string?)result["status"]);
        Assert.False((bool)result["report"]!["gate"]!["passed"]!);
        Assert.Contains(result["report"]!["gate"]!["checks"]!.AsArray(), c => (string?)c!["name"] == "finite_outputs" && !(bool)c["passed"]!);
        Assert.True((long)result["report"]!["rewrite"]!["values_overflowed"]! > 0);
        var number = (int)result["version"]!;

        var version = await (await client.GetAsync($"api/v1/models/{model}/versions/{number}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("rejected", (string?)version["optimization"]!["status"]);
        await (await client.GetAsync($"api/v1/models/{model}/aliases/prod")).ErrorAsync(HttpStatusCode.NotFound, "alias_not_found");
        using var refused = await InferAsync(client, model, number);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("rejected by its optimisation gate", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var sourceStillServes = await InferAsync(client, model, source);
        Assert.Equal(HttpStatusCode.OK, sourceStillServes.StatusCode);
    }

    [Fact]
    public async Task A_generated_llama_is_quantized_to_q8_0_with_perplexity_and_speed_against_its_source()
    {
        var (_, _, client) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite);
        var model = await client.CreateModelAsync();
        var source = (int)(await GeneratedLlamas.UploadAsync(client, model, GeneratedLlamas.Tiny))["version"]!;

        var job = await OptimizeAsync(client, model, source, """{"method": "gguf-quantize", "options": {"type": "q8_0"}, "gate": {"max_perplexity_increase": 0.5}}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var report = job["result"]!["report"]!;
        Assert.Equal("ready", (string?)job["result"]!["status"]);
        Assert.Equal("Q8_0", (string?)report["rewrite"]!["quantization"]);
        Assert.True((long)report["size_bytes"]! < (long)report["source_size_bytes"]!);
        Assert.True((double)report["perplexity"]! > 1 && (double)report["source_perplexity"]! > 1);
        Assert.True((double)report["generation_tokens_per_second"]! > 0 && (double)report["prompt_tokens_per_second"]! > 0);
        var version = await (await client.GetAsync($"api/v1/models/{model}/versions/{job["result"]!["version"]}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("gguf", (string?)version["format"]);
        Assert.Equal("quantized", (string?)version["derived_from"]!["relation"]);
    }

    private async Task<string> UploadLlamaAsync(HttpClient client, string model)
    {
        await GeneratedLlamas.UploadAsync(client, model, GeneratedLlamas.KQuantRows);
        return model;
    }

    private static async Task<string> TextDatasetAsync(HttpClient client, bool twoTextColumns = false)
    {
        var name = Names.Unique("txt");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        var lines = new[]
        {
            "The carpenter planed the oak board until it was smooth enough to write on.",
            "Rain fell on the harbour all night, and in the morning the boats were full of water.",
            "She counted the coins twice, wrote the total in the ledger, and locked the drawer.",
            "Two trains left the junction at noon, one heading north to the hills and one south to the sea.",
            "The orchard gave more apples that year than anyone could remember, and most were made into cider.",
        };
        var csv = (twoTextColumns ? "id,text,topic\n" : "id,text\n") +
            string.Join("\n", Enumerable.Range(0, 30).Select(i => $"{i},\"{lines[i % lines.Length]}\"" + (twoTextColumns ? ",misc" : ""))) + "\n";
        using var uploaded = await client.PostAsync($"api/v1/datasets/{name}/versions",
            MaasTestServer.Artifact(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(csv)), "text.csv"));
        await uploaded.JsonAsync(HttpStatusCode.Created);
        return name;
    }

    [Fact]
    public async Task Q4_k_m_with_an_importance_matrix_from_the_built_in_passage_reports_it_answers_and_is_no_worse_than_without()
    {
        var client = Host.Admin;
        var model = await UploadLlamaAsync(client, await client.CreateModelAsync());

        var plain = await OptimizeAsync(client, model, 1, """{"method": "gguf-quantize", "options": {"type": "q4_k_m"}, "gate": {"max_perplexity_increase": 0.5}}""");
        var weighted = await OptimizeAsync(client, model, 1,
            """{"method": "gguf-quantize", "options": {"type": "q4_k_m", "imatrix": "builtin"}, "gate": {"max_perplexity_increase": 0.5}, "alias": "iq"}""");

        Assert.True((string?)weighted["status"] == "succeeded", weighted.ToJsonString());
        Assert.True((string?)plain["status"] == "succeeded", plain.ToJsonString());
        var report = weighted["result"]!["report"]!;
        Assert.Equal("ready", (string?)weighted["result"]!["status"]);
        var imatrix = report["rewrite"]!["imatrix"]!;
        Assert.Equal("built-in passage", (string?)imatrix["text"]);
        Assert.Equal(14, (int)imatrix["entries"]!); // seven weights in each of two layers
        Assert.True((int)imatrix["tokens"]! > 200, imatrix.ToJsonString());
        Assert.Null(plain["result"]!["report"]!["rewrite"]!["imatrix"]);
        Assert.Equal((long)plain["result"]!["report"]!["size_bytes"]!, (long)report["size_bytes"]!);
        var with = Math.Abs((double)report["perplexity_increase"]!);
        var without = Math.Abs((double)plain["result"]!["report"]!["perplexity_increase"]!);
        Assert.True(with <= without + 0.02, $"perplexity change with the matrix {with:P2}, without {without:P2}");

        using var answer = await client.PostAsync("v1/completions", Api.Json($$"""{"model": "{{model}}:iq", "prompt": "The ferry left", "max_tokens": 4, "ignore_eos": true}"""));
        var completion = await answer.JsonAsync(HttpStatusCode.OK);
        // ignore_eos: a random quantized model may sample its end-of-text token early (3 tokens were seen once).
        Assert.Equal(4, (int)completion["usage"]!["completion_tokens"]!);
    }

    [SharedModelFact("llama-2-tiny-random.gguf")]
    public async Task The_shared_tiny_llama_quantizes_with_an_importance_matrix_from_a_dataset_text_column_and_answers()
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, await File.ReadAllBytesAsync(SharedModels.PathOf("llama-2-tiny-random.gguf")), "tiny.gguf");
        var text = await TextDatasetAsync(client);

        var job = await OptimizeAsync(client, model, 1,
            $$$"""{"method": "gguf-quantize", "options": {"type": "q8_0", "imatrix": "{{{text}}}"}, "gate": {"max_perplexity_increase": 0.5}, "alias": "iq"}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var report = job["result"]!["report"]!;
        Assert.Equal($"{text}:1 column text", (string?)report["rewrite"]!["imatrix"]!["text"]);
        Assert.True((double)report["perplexity"]! > 1 && (double)report["source_perplexity"]! > 1, report.ToJsonString());
        using var answer = await client.PostAsync("v1/completions", Api.Json($$"""{"model": "{{model}}:iq", "prompt": "Hello", "max_tokens": 3, "ignore_eos": true}"""));
        Assert.Equal(3, (int)(await answer.JsonAsync(HttpStatusCode.OK))["usage"]!["completion_tokens"]!);
    }

    [Fact]
    public async Task Bad_importance_matrix_texts_get_400()
    {
        var client = Host.Admin;
        var model = await UploadLlamaAsync(client, await client.CreateModelAsync());
        var two = await TextDatasetAsync(client, twoTextColumns: true);

        async Task Refused(string options, string code)
        {
            using var response = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json($$$"""{"method": "gguf-quantize", "options": {{{options}}}}"""));
            await response.ErrorAsync(HttpStatusCode.BadRequest, code);
        }

        await Refused("""{"type": "q4_k_m", "imatrix": "no-such-text"}""", "dataset_not_found");
        await Refused($$"""{"type": "q4_k_m", "imatrix": "{{two}}"}""", "invalid_calibration");
        await Refused($$"""{"type": "q4_k_m", "imatrix": "{{two}}", "imatrix_column": "id"}""", "invalid_calibration");
        await Refused("""{"type": "q4_k_m", "imatrix_column": "text"}""", "invalid_options");
        await Refused("""{"type": "q4_k_m", "imatrix": 1}""", "invalid_options");
        using var fine = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize",
            Api.Json($$$"""{"method": "gguf-quantize", "options": {"type": "q4_k_m", "imatrix": "{{{two}}}", "imatrix_column": "topic"}}"""));
        var job = await client.WaitForJobAsync((string)(await fine.JsonAsync(HttpStatusCode.Accepted))["id"]!, TimeSpan.FromMinutes(3));
        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        Assert.Equal($"{two}:1 column topic", (string?)job["result"]!["report"]!["rewrite"]!["imatrix"]!["text"]);
    }

    [Theory]
    [InlineData("""{"method": "onnx-int4", "options": {"block_size": 24}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-int8-static"}""", "invalid_options")]
    [InlineData("""{"method": "onnx-int8-static", "options": {"calibration": "cal", "calibration_method": "median"}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-int8-static", "options": {"calibration": "cal", "percentile": 99}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-int8-static", "options": {"calibration": "cal:x"}}""", "invalid_calibration")]
    [InlineData("""{"method": "onnx-int8-static", "options": {"calibration": "no-such-dataset"}}""", "dataset_not_found")]
    [InlineData("""{"method": "prune-structured", "options": {"ratio": 0}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-int8-dynamic", "options": {"weight_type": "int4"}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-int8-dynamic", "options": {"reduce_range": false}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-int8-dynamic", "options": {"weight_type": "int8", "reduce_range": "no"}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-fp16", "options": {"weight_type": "int8"}}""", "invalid_options")]
    [InlineData("""{"method": "shrink"}""", "invalid_method")]
    [InlineData("""{}""", "invalid_method")]
    [InlineData("""{"method": "gguf-quantize", "options": {"type": "q4_k_m"}}""", "method_not_applicable")]
    [InlineData("""{"method": "prune-magnitude"}""", "invalid_options")]
    [InlineData("""{"method": "prune-magnitude", "options": {"sparsity": 1.5}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-fp16", "options": {"colour": "red"}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-optimize", "options": {"level": "all"}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-optimize", "options": {"level": "all", "machine_specific": false}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-optimize", "options": {"level": "layout"}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-optimize", "options": {"level": "all", "machine_specific": "yes"}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-fp16", "options": {"throughput_batch": 0}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-fp16", "options": {"throughput_batch": 2.5}}""", "invalid_options")]
    [InlineData("""{"method": "onnx-fp16", "gate": {"min_throughput_ratio": "fast"}}""", "invalid_gate")]
    [InlineData("""{"method": "onnx-fp16", "options": {"evaluation": "shapes"}}""", "invalid_evaluation")]
    [InlineData("""{"method": "onnx-fp16", "options": {"evaluation": {"dataset": "shapes", "trainer": "sgd"}}}""", "invalid_evaluation")]
    [InlineData("""{"method": "onnx-fp16", "options": {"evaluation": {"dataset": "no-such-dataset"}}}""", "dataset_not_found")]
    [InlineData("""{"method": "onnx-fp16", "gate": {"max_perplexity_increase": 0.1}}""", "invalid_gate")]
    [InlineData("""{"method": "onnx-fp16", "gate": {"max_abs_diff": -1}}""", "invalid_gate")]
    [InlineData("""{"method": "onnx-fp16", "gate": [1]}""", "invalid_gate")]
    public async Task Bad_requests_get_400_with_a_code(string body, string code)
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, Mlp(), "model.onnx");

        using var response = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json(body));
        await response.ErrorAsync(HttpStatusCode.BadRequest, code);
    }

    [Fact]
    public async Task Int4_on_a_model_without_a_matmul_weight_it_takes_is_refused_at_submission_naming_the_weights()
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, OnnxModelWriter.Mlp(8, [16], 4, seed: 3).ToBytes(), "model.onnx");

        // 8 x 16 and 16 x 4 weights: under the 1 024 values MatMulNBits is worth it for, a 400 before any job is queued.
        using var response = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json("""{"method": "onnx-int4"}"""));
        var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "method_not_applicable");
        Assert.Contains("its MatMul weights are fc0.weight [8, 16], fc1.weight [16, 4]", (string?)error["message"], StringComparison.Ordinal);
        var jobs = await (await client.GetAsync("api/v1/jobs?kind=optimization")).JsonAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(model, jobs.ToJsonString(), StringComparison.Ordinal);
    }

    // A CSV of rows of 32 numbers uniform in [-1, 1] (the MLP's input) and a label column that is not a number.
    private static async Task<string> CalibrationDatasetAsync(HttpClient client, int columns = 32, string visibility = "private")
    {
        var name = Names.Unique("cal");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}", "visibility": "{{visibility}}"}"""))).JsonAsync(HttpStatusCode.Created);
        var random = new Random(4);
        var csv = new System.Text.StringBuilder(string.Join(",", Enumerable.Range(0, columns).Select(i => $"x{i}")) + ",label\n");
        for (var r = 0; r < 48; r++)
        {
            csv.Append(string.Join(",", Enumerable.Range(0, columns).Select(_ => ((random.NextDouble() * 2) - 1).ToString("F4", CultureInfo.InvariantCulture)))).Append(",c")
                .Append(r % 3).Append('\n');
        }

        using var uploaded = await client.PostAsync($"api/v1/datasets/{name}/versions",
            MaasTestServer.Artifact(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(csv.ToString())), "cal.csv"));
        await uploaded.JsonAsync(HttpStatusCode.Created);
        return name;
    }

    [Fact]
    public async Task Static_int8_calibrated_on_a_dataset_version_is_a_ready_qdq_version_that_serves()
    {
        var (_, _, client) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite, MaasScopes.Infer, MaasScopes.DatasetsRead, MaasScopes.DatasetsWrite);
        var model = await client.CreateModelAsync();
        var source = (int)(await client.UploadAsync(model, Mlp(), "model.onnx"))["version"]!;
        var dataset = await CalibrationDatasetAsync(client);

        var job = await OptimizeAsync(client, model, source, $$$"""{"method": "onnx-int8-static", "options": {"calibration": "{{{dataset}}}:1", "calibration_method":""" +
            $$$""" "percentile", "percentile": 99.9}, "gate": {"max_relative_mean_abs_diff": 0.05, "max_size_ratio": 0.6}}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var result = job["result"]!;
        var report = result["report"]!;
        Assert.True((string?)result["status"] == "ready", report.ToJsonString());
        Assert.Equal("calibration rows", (string?)report["compared_on"]);
        Assert.Equal(48, (int)report["samples"]!);
        var rewrite = report["rewrite"]!;
        Assert.Equal(2, (int)rewrite["matmuls_quantized"]!);
        Assert.Equal(6, (int)rewrite["qdq_nodes"]!);
        Assert.Equal("uint8", (string?)rewrite["weight_type"]);
        Assert.Equal(dataset, (string?)rewrite["calibration"]!["dataset"]);
        Assert.Equal(48, (int)rewrite["calibration"]!["rows"]!);
        Assert.Equal("percentile", (string?)rewrite["calibration"]!["method"]);
        Assert.Equal(32, rewrite["calibration"]!["columns"]!.AsArray().Count);
        var input = rewrite["calibration"]!["ranges"]!["input"]!.AsArray();
        Assert.InRange((double)input[1]!, 0.9, 1);
        using var served = await InferAsync(client, model, (int)result["version"]!);
        Assert.Equal(8, (await served.JsonAsync(HttpStatusCode.OK))["outputs"]![0]!["data"]!.AsArray().Count);
        using var delete = await client.DeleteAsync($"api/v1/datasets/{dataset}/versions/1");
        Assert.Equal(HttpStatusCode.Conflict, delete.StatusCode); // the quantised version's lineage names it
    }

    [Fact]
    public async Task Static_int8_calibrated_on_an_image_folder_resizes_and_normalises_the_pictures_as_options_or_metadata_say()
    {
        var (_, _, client) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite, MaasScopes.Infer, MaasScopes.DatasetsRead, MaasScopes.DatasetsWrite);
        var model = await client.CreateModelAsync();
        var convnet = ConvModels.Classifier(size: 16, classes: 4, seed: 3).ToBytes();
        await client.UploadAsync(model, convnet, "convnet.onnx");
        var described = MaasTestServer.Artifact(convnet, "convnet.onnx");
        described.Headers.Add("X-Maas-Metadata", """{"maas.preprocess": "unit"}""");
        await (await client.PostAsync($"api/v1/models/{model}/versions", described)).JsonAsync(HttpStatusCode.Created);

        // 12 colour pictures of 24x20 in two class folders; the model takes 16x16.
        var pictures = Names.Unique("pics");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{pictures}}"}"""))).JsonAsync(HttpStatusCode.Created);
        var zip = DatasetFiles.Zip(ConvModels.Pictures(12, 24, 20, seed: 5).Select((png, i) => ($"class{i % 2}/{i}.png", png)).ToArray());
        await (await client.PostAsync($"api/v1/datasets/{pictures}/versions", MaasTestServer.Artifact(zip, "pictures.zip"))).JsonAsync(HttpStatusCode.Created);

        var job = await OptimizeAsync(client, model, 1, $$$"""{"method": "onnx-int8-static", "options": {"calibration": "{{{pictures}}}", "preprocess": "symmetric"}}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var report = job["result"]!["report"]!;
        Assert.True((string?)job["result"]!["status"] == "ready", report.ToJsonString());
        Assert.Equal("calibration pictures", (string?)report["compared_on"]);
        Assert.Equal(12, (int)report["samples"]!);
        var calibration = report["rewrite"]!["calibration"]!;
        Assert.Equal(2, (int)report["rewrite"]!["convs_quantized"]!);
        Assert.Equal(12, (int)calibration["rows"]!);
        Assert.Equal("[20,24,3]", calibration["pictures"]!["stored_shape"]!.ToJsonString());
        Assert.Equal("[1,3,16,16]", calibration["pictures"]!["input_shape"]!.ToJsonString());
        Assert.Equal("options (symmetric)", (string?)calibration["pictures"]!["preprocess_from"]);
        Assert.InRange((double)calibration["ranges"]!["input"]![0]!, -0.995, -0.5); // (pixel - 127) / 128
        Assert.InRange((double)calibration["ranges"]!["input"]![1]!, 0.5, 1.0);

        // Version 2 says how it is normalised in its metadata: pixels / 255.
        var fromMetadata = await OptimizeAsync(client, model, 2, $$$"""{"method": "onnx-int8-static", "options": {"calibration": "{{{pictures}}}:1", "rows": 4}}""");
        var unit = fromMetadata["result"]!["report"]!["rewrite"]!["calibration"]!;
        Assert.Equal("metadata maas.preprocess (unit)", (string?)unit["pictures"]!["preprocess_from"]);
        Assert.Equal(4, (int)unit["rows"]!);
        Assert.InRange((double)unit["ranges"]!["input"]![0]!, 0, 0.25);
        Assert.InRange((double)unit["ranges"]!["input"]![1]!, 0.75, 1.0);

        // Version 1 says nothing, so the request must; a preset must be known; a table of numbers takes no preprocessing.
        async Task<JsonNode> Refused(int version, string options, string code)
        {
            using var response = await client.PostAsync($"api/v1/models/{model}/versions/{version}:optimize",
                Api.Json($$$"""{"method": "onnx-int8-static", "options": {{{options}}}}"""));
            return await response.ErrorAsync(HttpStatusCode.BadRequest, code);
        }

        Assert.Contains("options.preprocess", (string?)(await Refused(1, $$"""{"calibration": "{{pictures}}"}""", "invalid_calibration"))["message"]);
        await Refused(1, $$"""{"calibration": "{{pictures}}", "preprocess": "bright"}""", "invalid_options");
        await Refused(1, $$$"""{"calibration": "{{{pictures}}}", "preprocess": {"mean": [1, 2], "std": [1]}}""", "invalid_options");
        await Refused(1, $$"""{"calibration": "{{pictures}}", "preprocess": "unit", "channel_order": "gbr"}""", "invalid_options");
        var numbers = await CalibrationDatasetAsync(client, columns: 768);
        await Refused(1, $$"""{"calibration": "{{numbers}}", "preprocess": "unit"}""", "invalid_options");
    }

    [Fact]
    public async Task Bad_calibration_datasets_get_400_and_a_key_without_datasets_read_gets_403()
    {
        var (tenant, _, client) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite, MaasScopes.DatasetsRead, MaasScopes.DatasetsWrite);
        var (_, _, stranger) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite, MaasScopes.DatasetsRead, MaasScopes.DatasetsWrite);
        var (_, modelsOnly) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead, MaasScopes.ModelsWrite]);
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, Mlp(), "model.onnx");
        var narrow = await CalibrationDatasetAsync(client, columns: 3);
        var good = await CalibrationDatasetAsync(client);
        var private_ = await CalibrationDatasetAsync(stranger);

        async Task<JsonNode> Refused(HttpClient caller, string options, HttpStatusCode status, string code)
        {
            using var response = await caller.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json($$$"""{"method": "onnx-int8-static", "options": {{{options}}}}"""));
            return await response.ErrorAsync(status, code);
        }

        var narrowError = await Refused(client, $$"""{"calibration": "{{narrow}}"}""", HttpStatusCode.BadRequest, "invalid_calibration");
        Assert.Contains("32 values per row", (string?)narrowError["message"]);
        // A missing version is named as training names it (it was dataset_not_found, as if the dataset were missing).
        await Refused(client, $$"""{"calibration": "{{good}}:2"}""", HttpStatusCode.BadRequest, "dataset_version_not_found");
        await Refused(client, $$"""{"calibration": "{{private_}}"}""", HttpStatusCode.BadRequest, "dataset_not_found");
        await Refused(client, $$"""{"calibration": "{{good}}", "columns": ["x0", "label"]}""", HttpStatusCode.BadRequest, "invalid_calibration");
        await Refused(Host.Client(modelsOnly), $$"""{"calibration": "{{good}}"}""", HttpStatusCode.Forbidden, "insufficient_scope");
        var versions = await (await client.GetAsync($"api/v1/models/{model}/versions")).JsonAsync(HttpStatusCode.OK);
        Assert.Single(versions["versions"]!.AsArray());
    }

    [Fact]
    public async Task Another_tenant_can_neither_optimize_a_model_nor_see_its_job_and_a_read_key_cannot_optimize()
    {
        var (tenant, _, owner) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite);
        var (_, _, stranger) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite);
        var (_, readOnly) = await Host.CreateKeyAsync(tenant, [MaasScopes.ModelsRead]);
        var model = await owner.CreateModelAsync();
        await owner.UploadAsync(model, Mlp(), "model.onnx");
        const string body = """{"method": "onnx-fp16"}""";

        using (var response = await stranger.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json(body)))
        {
            Assert.True(response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Forbidden, $"{response.StatusCode}");
        }

        using (var response = await Host.Client(readOnly).PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json(body)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        using var started = await owner.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json(body));
        var id = (string)(await started.JsonAsync(HttpStatusCode.Accepted))["id"]!;
        await (await stranger.GetAsync($"api/v1/jobs/{id}")).ErrorAsync(HttpStatusCode.NotFound, "job_not_found");
        await (await stranger.DeleteAsync($"api/v1/jobs/{id}")).ErrorAsync(HttpStatusCode.NotFound, "job_not_found");
        Assert.Equal("succeeded", (string?)(await owner.WaitForJobAsync(id, TimeSpan.FromMinutes(3)))["status"]);
        Assert.Equal("succeeded", (string?)(await Host.Admin.WaitForJobAsync(id))["status"]);
    }

    [Fact]
    public async Task A_rejected_version_an_administrator_lists_in_serve_rejected_is_served()
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync(OptimizationHostFixture.ForcedModel);
        await client.UploadAsync(model, Mlp(scale: 1e6f, softmax: false), "model.onnx");

        var job = await OptimizeAsync(client, model, 1, """{"method": "onnx-fp16"}""");

        Assert.Equal("rejected", (string?)job["result"]!["status"]);
        Assert.Equal(2, (int)job["result"]!["version"]!);
        using var forced = await InferAsync(client, model, 2);
        Assert.Equal(HttpStatusCode.OK, forced.StatusCode);
    }

    // Serving caches what a name resolves to for a moment: wait for the answer to change, with a generous ceiling.
    private static Task InferEventuallyAsync(HttpClient client, string model, int version, HttpStatusCode expected) =>
        Conditions.ReadUntilAsync(
            async () =>
            {
                using var response = await InferAsync(client, model, version);
                return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
            },
            answer => answer.StatusCode == expected,
            $"version {version} answers {expected}",
            show: answer => $"still {answer.StatusCode}: {answer.Body}");

    [Fact]
    public async Task An_administrator_forces_a_rejected_version_through_the_api_audited_and_can_withdraw_it()
    {
        var (_, ownerKey, owner) = await Host.TenantWithKeyAsync(MaasScopes.ModelsRead, MaasScopes.ModelsWrite, MaasScopes.Infer);
        var model = await owner.CreateModelAsync();
        var source = (int)(await owner.UploadAsync(model, Mlp(scale: 1e6f, softmax: false), "model.onnx"))["version"]!;
        var job = await OptimizeAsync(owner, model, source, """{"method": "onnx-fp16"}""");
        Assert.Equal("rejected", (string?)job["result"]!["status"]);
        var rejected = (int)job["result"]!["version"]!;
        var key = (string)(await (await owner.GetAsync($"api/v1/models/{model}/versions/{rejected}")).JsonAsync(HttpStatusCode.OK))["model"]!;
        var path = $"api/v1/models/{Uri.EscapeDataString(key)}/versions/{rejected}:force-serve";
        using (var refused = await InferAsync(owner, model, rejected))
        {
            Assert.Contains(":force-serve", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // Only an administrator may serve what the gate rejected.
        await (await owner.PostAsync(path, Api.Json("""{"reason": "mine anyway"}"""))).ErrorAsync(HttpStatusCode.Forbidden, "insufficient_scope");

        var forced = await (await Host.Admin.PostAsync(path, Api.Json("""{"reason": "checked by hand on the production inputs"}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("rejected", (string?)forced["optimization"]!["status"]);
        Assert.Equal("checked by hand on the production inputs", (string?)forced["optimization"]!["forced"]!["reason"]);
        Assert.False(string.IsNullOrEmpty((string?)forced["optimization"]!["forced"]!["by"]));
        await InferEventuallyAsync(owner, model, rejected, HttpStatusCode.OK);

        var shown = await (await owner.GetAsync($"api/v1/models/{model}/versions/{rejected}")).JsonAsync(HttpStatusCode.OK);
        Assert.NotNull(shown["optimization"]!["forced"]);
        Assert.NotNull(shown["optimization"]!["report"]); // the numbers stay with it

        var withdrawn = await (await Host.Admin.PostAsync(path, Api.Json("""{"serve": false}"""))).JsonAsync(HttpStatusCode.OK);
        Assert.Null(withdrawn["optimization"]!["forced"]);
        await InferEventuallyAsync(owner, model, rejected, HttpStatusCode.BadRequest); // once the resolution cache (Maas:Inference:ResolveCacheMs) lets go

        await (await Host.Admin.PostAsync($"api/v1/models/{Uri.EscapeDataString(key)}/versions/{source}:force-serve", Api.Json("{}"))).ErrorAsync(HttpStatusCode.Conflict,
            "version_not_rejected");
        await (await Host.Admin.PostAsync(path, Api.Json($$"""{"reason": "{{new string('x', 501)}}"}"""))).ErrorAsync(HttpStatusCode.BadRequest, "invalid_reason");

        var audit = (await (await Host.Admin.GetAsync("api/v1/audit?limit=1000&action=versions.force_serve")).JsonAsync(HttpStatusCode.OK))["entries"]!.AsArray();
        var mine = audit.Where(e => ((string?)e!["target"])?.Contains($"version={rejected}", StringComparison.Ordinal) == true &&
            ((string?)e["target"])!.Contains(model, StringComparison.Ordinal)).ToArray();
        Assert.Contains(mine, e => (string?)e!["result"] == "denied" && (string?)e["actor"] == ownerKey);
        Assert.Equal(2, mine.Count(e => (string?)e!["result"] == "success"));
    }

    [Fact]
    public async Task Magnitude_pruning_is_a_pruned_version_whose_report_gives_both_compressed_sizes()
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, Mlp(), "model.onnx");

        var job = await OptimizeAsync(client, model, 1,
            """{"method": "prune-magnitude", "options": {"sparsity": 0.5, "samples": 4}, "gate": {"max_relative_mean_abs_diff": 0.5}}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var report = job["result"]!["report"]!;
        Assert.Equal("ready", (string?)job["result"]!["status"]);
        Assert.Equal(4, (int)report["samples"]!);
        Assert.True((long)report["compressed_size_bytes"]! < (long)report["source_compressed_size_bytes"]!, report.ToJsonString());
        Assert.InRange((double)(long)report["rewrite"]!["zeroed"]! / (long)report["rewrite"]!["weights"]!, 0.49, 0.51);
        var version = await (await client.GetAsync($"api/v1/models/{model}/versions/{job["result"]!["version"]}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("pruned", (string?)version["derived_from"]!["relation"]);
    }

    [Fact]
    public async Task Structured_pruning_is_a_pruned_smaller_version_that_serves()
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, Mlp(), "model.onnx");

        var job = await OptimizeAsync(client, model, 1, """{"method": "prune-structured", "options": {"ratio": 0.25}, "gate": {"max_size_ratio": 0.9}}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        Assert.Equal("ready", (string?)job["result"]!["status"]);
        Assert.Equal(16, (int)job["result"]!["report"]!["rewrite"]!["units_removed"]!);
        using var served = await InferAsync(client, model, (int)job["result"]!["version"]!);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task Int4_of_an_mlp_is_a_quantized_version_with_matmulnbits_that_serves()
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, Mlp(), "model.onnx");

        var job = await OptimizeAsync(client, model, 1, """{"method": "onnx-int4", "options": {"block_size": 16}, "gate": {"max_relative_mean_abs_diff": 0.2}}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        Assert.Equal("ready", (string?)job["result"]!["status"]);
        Assert.Equal(1, (int)job["result"]!["report"]!["rewrite"]!["matmuls_quantized"]!); // 32x64; 64x8 is too small for 4 bits
        Assert.Contains("com.microsoft", job["result"]!["report"]!["rewrite"]!["operators_domains"]!.AsArray().Select(d => (string?)d));
        using var served = await InferAsync(client, model, (int)job["result"]!["version"]!);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task Onnx_runtime_graph_optimisation_is_an_optimized_version_that_answers_like_its_source()
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, Mlp(), "model.onnx");

        var job = await OptimizeAsync(client, model, 1, """{"method": "onnx-optimize", "options": {"level": "basic"}, "gate": {"max_abs_diff": 0.0001}}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        Assert.Equal("ready", (string?)job["result"]!["status"]);
        Assert.Equal("basic", (string?)job["result"]!["report"]!["rewrite"]!["level"]);
        Assert.False((bool)job["result"]!["report"]!["rewrite"]!["machine_specific"]!);
        var version = await (await client.GetAsync($"api/v1/models/{model}/versions/{job["result"]!["version"]}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("optimized", (string?)version["derived_from"]!["relation"]);
    }

    [X86VectorFact]
    public async Task The_all_level_is_made_only_when_machine_specific_is_asked_for_and_says_so()
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, ConvModels.BlockedConvNet().ToBytes(), "blocked.onnx");

        using (var refused = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json("""{"method": "onnx-optimize", "options": {"level": "all"}}""")))
        {
            var error = await refused.ErrorAsync(HttpStatusCode.BadRequest, "invalid_options");
            Assert.Contains("machine_specific", (string?)error["message"], StringComparison.Ordinal);
        }

        var portable = await OptimizeAsync(client, model, 1, """{"method": "onnx-optimize", "options": {"level": "extended"}, "gate": {"max_abs_diff": 0.0001}}""");
        Assert.Equal("ready", (string?)portable["result"]!["status"]);
        Assert.False((bool)portable["result"]!["report"]!["rewrite"]!["machine_specific"]!);
        Assert.Equal(0, (int)portable["result"]!["report"]!["rewrite"]!["layout_nodes"]!);

        var job = await OptimizeAsync(client, model, 1, """{"method": "onnx-optimize", "options": {"level": "all", "machine_specific": true}, "gate": {"max_abs_diff": 0.0001}}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        Assert.Equal("ready", (string?)job["result"]!["status"]);
        var rewrite = job["result"]!["report"]!["rewrite"]!;
        Assert.Equal("all", (string?)rewrite["level"]);
        Assert.True((bool)rewrite["machine_specific"]!);
        Assert.True((int)rewrite["layout_nodes"]! > 0, rewrite.ToJsonString());
        Assert.Contains("avx2", rewrite["cpu_features"]!.AsArray().Select(f => (string?)f));
        var number = (int)job["result"]!["version"]!;
        var data = string.Join(",", Enumerable.Range(0, 16 * 8 * 8).Select(i => ((i % 7) / 7.0).ToString(CultureInfo.InvariantCulture)));
        using var served = await client.PostAsync($"v2/models/{model}/versions/{number}/infer",
            Api.Json($$"""{"inputs": [{"name": "input", "shape": [1, 16, 8, 8], "datatype": "FP32", "data": [{{data}}]}]}"""));
        Assert.Equal(32, (await served.JsonAsync(HttpStatusCode.OK))["outputs"]![0]!["data"]!.AsArray().Count); // on the machine that wrote it
    }

    [SharedModelFact("ultraface-rfb-320.onnx")]
    public async Task UltraFace_int8_dynamic_passes_the_default_gate_and_serves()
    {
        var client = Host.Admin;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, await File.ReadAllBytesAsync(SharedModels.PathOf("ultraface-rfb-320.onnx")), "ultraface.onnx");

        var job = await OptimizeAsync(client, model, 1, """{"method": "onnx-int8-dynamic", "options": {"samples": 2}}""");

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        var report = job["result"]!["report"]!;
        Assert.Equal("ready", (string?)job["result"]!["status"]);
        Assert.True((int)report["rewrite"]!["convs_quantized"]! > 0);
        Assert.True((double)report["relative_mean_abs_diff"]! < 0.05, report.ToJsonString());
        Assert.True((double)report["size_ratio"]! < 0.5);
        Assert.Equal(1, (int)report["throughput_batch"]!); // UltraFace's batch dimension is fixed at 1
        Assert.Contains("fixed", (string?)report["throughput_note"], StringComparison.Ordinal);
        var version = await (await client.GetAsync($"api/v1/models/{model}/versions/{job["result"]!["version"]}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal(["input"], version["signature"]!["inputs"]!.AsArray().Select(i => (string?)i!["name"]));
    }
}

/// <summary>A server with no in-process job worker: submitted jobs stay queued until cancelled.</summary>
public sealed class NoWorkerFixture : IAsyncLifetime
{
    private TenancyHost? _host;

    public TenancyHost Host => _host ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _host = await TenancyHost.StartAsync(new Dictionary<string, string?> { ["Maas:Training:Workers"] = "0" });

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}

/// <summary>Cancelling an optimisation job through /api/v1/jobs.</summary>
public sealed class OptimizationCancelTests(NoWorkerFixture fixture) : IClassFixture<NoWorkerFixture>
{
    [Fact]
    public async Task A_queued_optimisation_job_is_cancelled_through_the_jobs_route_and_registers_nothing()
    {
        var client = fixture.Host.Admin;
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, OnnxModelWriter.Mlp(8, [16], 4, seed: 2).ToBytes(), "model.onnx");
        using var started = await client.PostAsync($"api/v1/models/{model}/versions/1:optimize", Api.Json("""{"method": "onnx-fp16"}"""));
        var id = (string)(await started.JsonAsync(HttpStatusCode.Accepted))["id"]!;

        using var cancel = await client.DeleteAsync($"api/v1/jobs/{id}");
        await cancel.JsonAsync(HttpStatusCode.Accepted);

        var job = await client.WaitForJobAsync(id);
        Assert.Equal("cancelled", (string?)job["status"]);
        Assert.Equal("cancelled", (string?)job["error"]!["code"]);
        await (await client.DeleteAsync($"api/v1/jobs/{id}")).ErrorAsync(HttpStatusCode.Conflict, "job_finished");
        var versions = await (await client.GetAsync($"api/v1/models/{model}/versions")).JsonAsync(HttpStatusCode.OK);
        Assert.Single(versions["versions"]!.AsArray());
    }
}
