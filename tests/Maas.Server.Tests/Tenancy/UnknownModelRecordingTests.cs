using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Tenancy;
using Maas.Server.Tests.ModelHosting;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Tenancy;

/// <summary>
/// Names a caller makes up never reach the metric labels or the usage table: a request is recorded under a model
/// only once that model resolved, and a 404 carries no version. The requests themselves are still counted.
/// </summary>
public sealed class UnknownModelRecordingTests
{
    private const string Oip = "protocol=\"oip-rest\"";

    private const string Input = """{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -1.25, 2.0, 0.75]}]}""";

    [Fact]
    public async Task Made_up_model_names_and_versions_add_no_series_and_no_usage_row_yet_every_request_is_counted()
    {
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?> { ["Maas:Usage:TenantMetrics"] = "true" });
        var real = await host.Admin.CreateModelAsync(extra: """, "visibility": "shared" """);
        await host.Admin.UploadAsync(real, TestArtifacts.Onnx(3), "model.onnx");
        var (tenant, keyId, client) = await host.TenantWithKeyAsync(MaasScopes.Infer, MaasScopes.ModelsRead);

        // One made-up name per protocol form: OIP v2 (metadata, ready, infer, a version), /predict, and the OpenAI routes.
        var ghost = Names.Unique("ghost");
        var calls = new (string Method, string Path, string? Body)[]
        {
            ("GET", $"v2/models/{ghost}", null),
            ("GET", $"v2/models/{ghost}/ready", null),
            ("POST", $"v2/models/{ghost}/infer", Input),
            ("POST", $"v2/models/{ghost}/versions/3/infer", Input),
            ("POST", $"api/v1/models/{ghost}/predict", """{"inputs": {"input": [[0.5, -1.25, 2.0, 0.75]]}}"""),
            ("POST", "v1/chat/completions", $$"""{"model": "{{ghost}}", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}"""),
            ("POST", "v1/chat/completions", $$"""{"model": "nobody-{{ghost}}/{{ghost}}", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}"""),
            ("POST", "v1/completions", $$"""{"model": "{{ghost}}:prod", "prompt": "hi", "max_tokens": 2}"""),
            ("POST", "v1/embeddings", $$"""{"model": "{{ghost}}", "input": "hi"}"""),
            ("GET", $"v1/models/{ghost}", null),
        };
        foreach (var (method, path, body) in calls)
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = body is null ? null : Api.Json(body) };
            using var response = await client.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{method} {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }

        // A real model with a made-up version (404), and one call that resolves (its series names the model).
        using (var response = await client.PostAsync($"v2/models/{real}/versions/987654/infer", Api.Json(Input)))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        using (var response = await client.PostAsync($"v2/models/{real}/infer", Api.Json(Input)))
        {
            await response.JsonAsync(HttpStatusCode.OK);
        }

        var made = calls.Length + 2;
        // Series name a model by its key (the default tenant's models by their short name); usage rows as the caller does.
        var realLabel = $"model=\"{real}\"";
        var metrics = await Conditions.ReadUntilAsync(
            () => host.Admin.GetStringAsync("metrics"),
            text => Placement.Sum(text, "maas_request_duration_seconds_count", realLabel, Oip) >= 2
                && Placement.Sum(text, "maas_request_duration_seconds_count", "model=\"\"", "status=\"404\"") >= calls.Length,
            "every call is in /metrics");

        // Every made-up name was counted, under no model and no version; nothing in /metrics names it.
        Assert.DoesNotContain(ghost, metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("987654", metrics, StringComparison.Ordinal);
        Assert.Equal(calls.Length, Placement.Sum(metrics, "maas_request_duration_seconds_count", "model=\"\"", "version=\"\"", "status=\"404\""));
        Assert.Equal(1, Placement.Sum(metrics, "maas_request_duration_seconds_count", realLabel, Oip, "version=\"\"", "status=\"404\""));
        Assert.Equal(1, Placement.Sum(metrics, "maas_request_duration_seconds_count", realLabel, Oip, "status=\"200\""));
        Assert.Equal(calls.Length, Placement.Sum(metrics, "maas_tenant_requests_total", $"tenant=\"{tenant}\"", "model=\"\"", "status=\"4xx\""));
        Assert.Equal(2, Placement.Sum(metrics, "maas_tenant_requests_total", $"tenant=\"{tenant}\"", realLabel));

        // The usage table counts them all, in a row without a model; no row (and no CSV line) names the made-up model.
        var usage = await Conditions.ReadUntilAsync(
            async () => await (await host.Admin.GetAsync($"api/v1/usage?key={keyId}")).JsonAsync(HttpStatusCode.OK),
            u => (long?)u["totals"]!["requests"] >= made,
            "every request is in the usage table");
        Assert.Equal(made, (long?)usage["totals"]!["requests"]);
        Assert.Equal(made - 1, (long?)usage["totals"]!["errors"]);
        var rows = usage["rows"]!.AsArray();
        Assert.Equal(2, rows.Count);
        Assert.Equal(calls.Length, (long?)rows.Single(r => r!["model"] is null)!["requests"]);
        Assert.Equal(2, (long?)rows.Single(r => (string?)r!["model"] == $"default/{real}")!["requests"]);
        Assert.Equal(0, (long?)(await host.UsageTotalsAsync($"model={ghost}"))["requests"]);
        var csv = await host.Admin.GetStringAsync($"api/v1/usage?tenant={tenant}&format=csv");
        Assert.DoesNotContain(ghost, csv, StringComparison.Ordinal);
    }
}
