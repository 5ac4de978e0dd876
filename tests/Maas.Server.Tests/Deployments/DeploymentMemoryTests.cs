using System.Net;
using Maas.Server.Deployments;
using Maas.Server.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.Deployments;

/// <summary>A server of its own (these tests count its router's entries), without warm-ups (many versions get traffic).</summary>
public sealed class DeploymentMemoryServers : ServerPerDb
{
    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, string?> Settings { get; } = new Dictionary<string, string?>(DeploymentServers.Fast)
    {
        ["Maas:Deployments:WarmUp"] = "false",
    };
}

/// <summary>
/// The router's per-version state does not outlive the deployments and versions it was for: counts of routed calls and
/// metrics windows return to where they started once deployments are deleted or their traffic moved on.
/// </summary>
public sealed class DeploymentMemoryTests(DeploymentMemoryServers servers) : IClassFixture<DeploymentMemoryServers>
{
    [Fact]
    public async Task Deleting_deployments_drops_their_call_counts_and_metrics_windows_even_for_calls_that_end_after_the_delete()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var router = server.Services.GetRequiredService<DeploymentRouter>();
        var inFlight = router.InFlightEntries;
        var windows = router.Metrics.WindowCount;

        var models = new List<string>();
        for (var i = 0; i < 50; i++)
        {
            var model = await client.CreateModelAsync();
            await client.UploadAsync(model, TestArtifacts.Onnx(1), "model.onnx");
            await (await client.PostAsync("api/v1/deployments",
                Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
            await WaitUntilAsync(() => router.Find(model) is not null, "this server routes the model");
            await RoutedTestCall.Route(router, model).Complete();
            models.Add(model);
        }

        Assert.True(router.InFlightEntries >= inFlight + 50);
        Assert.True(router.Metrics.WindowCount >= windows + 50);

        // A call still running when its deployment goes records into a window nothing reads any more.
        var straggler = RoutedTestCall.Route(router, models[0]);
        foreach (var model in models)
        {
            Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/deployments/{model}")).StatusCode);
        }

        await WaitUntilAsync(() => models.All(m => router.Find(m) is null), "this server saw every delete");
        await straggler.Complete();

        await WaitUntilAsync(() => router.InFlightEntries == inFlight, $"the call counts back to {inFlight} (now {router.InFlightEntries})");
        await WaitUntilAsync(() => router.Metrics.WindowCount == windows, $"the metrics windows back to {windows} (now {router.Metrics.WindowCount})");
    }

    [Fact]
    public async Task Moving_traffic_through_many_versions_keeps_only_the_live_versions_counts()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var router = server.Services.GetRequiredService<DeploymentRouter>();
        var inFlight = router.InFlightEntries;
        var model = await client.CreateModelAsync();
        const int Versions = 12;
        for (var v = 1; v <= Versions; v++)
        {
            await client.UploadAsync(model, TestArtifacts.Onnx(v), "model.onnx");
        }

        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
        await WaitUntilAsync(() => router.Find(model) is not null, "this server routes the model");
        await RoutedTestCall.Route(router, model).Complete();

        // A call on version 1 still runs when the traffic moves on: its count stays until it ends.
        var running = RoutedTestCall.Route(router, model);
        for (var v = 2; v <= Versions; v++)
        {
            await (await client.PatchAsync($"api/v1/deployments/{model}", Api.Json($$"""{"traffic": [{"version": {{v}}, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.OK);
            var version = v;
            await WaitUntilAsync(() => router.Find(model)?.Stable == version, $"this server routes to version {version}");
            await RoutedTestCall.Route(router, model).Complete();
        }

        await WaitUntilAsync(() => router.InFlightEntries == inFlight + 2, $"the counts of version 1 (a call runs) and {Versions} only (now {router.InFlightEntries - inFlight})");
        Assert.False(await router.WaitForRoutedCallsAsync(model, 1, TimeSpan.Zero, CancellationToken.None));

        await running.Complete();
        Assert.True(await router.WaitForRoutedCallsAsync(model, 1, TimeSpan.Zero, CancellationToken.None));
        await WaitUntilAsync(() => router.InFlightEntries == inFlight + 1, $"the count of version {Versions} only (now {router.InFlightEntries - inFlight})");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/deployments/{model}")).StatusCode);
        await WaitUntilAsync(() => router.InFlightEntries == inFlight, $"the call counts back to {inFlight} (now {router.InFlightEntries})");
    }
}
