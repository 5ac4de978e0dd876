using System.Net;
using Maas.Core.Deployments;
using Maas.Core.Formats;
using Maas.Core.Hosting;
using Maas.Core.TensorServing;
using Maas.Runtimes.Onnx.Serving;
using Maas.Server.Deployments;
using Maas.Server.Tests.Support;
using Maas.Storage.Deployments;
using Maas.Storage.Sql;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.Deployments;

/// <summary>
/// Changes of a deployment racing other changes of its model: a version deleted (without force) between the
/// deployment's checks and its save. The store is held at the save, so the delete lands in exactly that window.
/// </summary>
public sealed class DeploymentRaceTests
{
    private const string Input = """{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -1.25, 2.0, 0.75]}]}""";

    /// <summary>The SQL store, with a gate a test can close in front of its next create or update.</summary>
    private sealed class GatedStore(IDeploymentStore inner) : IDeploymentStore
    {
        private TaskCompletionSource? _entered;
        private TaskCompletionSource? _release;
        private TaskCompletionSource? _held;
        private CancellationTokenSource? _cancelAfterSave;

        /// <summary>Holds the next create or update until <see cref="Release"/>; completes when one waits there.</summary>
        public Task Close()
        {
            _release = _held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _entered.Task;
        }

        public void Release() => _held?.TrySetResult();

        private async Task PassAsync()
        {
            if (Interlocked.Exchange(ref _release, null) is { } release)
            {
                _entered!.TrySetResult();
                await release.Task.WaitAsync(TimeSpan.FromSeconds(30));
            }
        }

        public async Task<Deployment> CreateAsync(Deployment deployment, DeploymentEvent created, CancellationToken cancellationToken)
        {
            await PassAsync();
            return await inner.CreateAsync(deployment, created, cancellationToken);
        }

        public async Task<Deployment> UpdateAsync(Deployment deployment, long expectedRevision, DeploymentEvent change, CancellationToken cancellationToken)
        {
            await PassAsync();
            var saved = await inner.UpdateAsync(deployment, expectedRevision, change, cancellationToken);
            Interlocked.Exchange(ref _cancelAfterSave, null)?.Cancel();
            return saved;
        }

        /// <summary>Cancels <paramref name="source"/> once the next update is stored (its caller gives up just then).</summary>
        public void CancelAfterNextSave(CancellationTokenSource source) => _cancelAfterSave = source;

        public Task<Deployment?> GetAsync(string tenant, string name, CancellationToken cancellationToken) => inner.GetAsync(tenant, name, cancellationToken);

        public Task<IReadOnlyList<Deployment>> ListAsync(string? tenant, CancellationToken cancellationToken) => inner.ListAsync(tenant, cancellationToken);

        public Task<bool> DeleteAsync(string tenant, string name, CancellationToken cancellationToken) => inner.DeleteAsync(tenant, name, cancellationToken);

        public Task<IReadOnlyList<DeploymentEvent>> HistoryAsync(string tenant, string name, int limit, CancellationToken cancellationToken) =>
            inner.HistoryAsync(tenant, name, limit, cancellationToken);

        public Task<long> ChangeCounterAsync(CancellationToken cancellationToken) => inner.ChangeCounterAsync(cancellationToken);
    }

    private static async Task<(MaasTestServer Server, GatedStore Store)> StartAsync()
    {
        GatedStore? store = null;
        var server = await MaasTestServer.StartAsync(settings: DeploymentServers.Fast, configure: b => b.Services.AddSingleton<IDeploymentStore>(sp =>
            store = new GatedStore(new SqlDeploymentStore(sp.GetRequiredService<SqlRegistryStore>().Dialect))));
        _ = server.Services.GetRequiredService<IDeploymentStore>();
        return (server, store!);
    }

    private static async Task<HashSet<string>> VersionsServedAsync(HttpClient client, string model, int calls)
    {
        var seen = new HashSet<string>();
        for (var i = 0; i < calls; i++)
        {
            using var response = await client.PostAsync($"v2/models/{model}/infer", Api.Json(Input));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"call {i}: {(int)response.StatusCode} {text}");
            seen.Add(response.Headers.GetValues("X-Maas-Model-Version").Single());
        }

        return seen;
    }

    [Fact]
    public async Task A_version_deleted_while_a_deployment_naming_it_is_created_or_changed_is_never_left_in_its_split()
    {
        var (server, store) = await StartAsync();
        await using var _ = server;
        var client = server.Client;
        var model = await client.CreateModelAsync();
        foreach (var seed in new[] { 1, 2, 3 })
        {
            await client.UploadAsync(model, TestArtifacts.Onnx(seed), "model.onnx");
        }

        // Create: checked and warmed, then held before the save while version 2 is deleted (no deployment names it yet,
        // so no force is needed). The deployment used to be stored anyway, and half the calls answered 404.
        var entered = store.Close();
        var creating = client.PostAsync("api/v1/deployments", Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 50}, {"version": 2, "percent": 50}]}"""));
        await entered.WaitAsync(Ceiling); // a create or change warms its versions first: seconds on a busy host
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/models/{model}/versions/2")).StatusCode);
        store.Release();
        var refused = await (await creating).ErrorAsync(HttpStatusCode.NotFound, "version_not_found");
        Assert.Contains("version 2", (string?)refused["message"], StringComparison.Ordinal);
        Assert.Contains("deleted while", (string?)refused["message"], StringComparison.Ordinal);
        await (await client.GetAsync($"api/v1/deployments/{model}")).ErrorAsync(HttpStatusCode.NotFound, "deployment_not_found");
        Assert.Equal(["3"], await VersionsServedAsync(client, model, 8)); // the registry's default again

        // Change: a deployment of version 1 is given version 3 as well, and version 3 is deleted in the same window.
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
        entered = store.Close();
        var changing = client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"traffic": [{"version": 1, "percent": 50}, {"version": 3, "percent": 50}]}"""));
        await entered.WaitAsync(Ceiling); // a create or change warms its versions first: seconds on a busy host
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"api/v1/models/{model}/versions/3")).StatusCode);
        store.Release();
        await (await changing).ErrorAsync(HttpStatusCode.NotFound, "version_not_found");
        var shown = await (await client.GetAsync($"api/v1/deployments/{model}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("""[{"version":1,"percent":100}]""", shown["traffic"]!.ToJsonString());
        Assert.Equal(["1"], await VersionsServedAsync(client, model, 8));
        var history = (await (await client.GetAsync($"api/v1/deployments/{model}/history")).JsonAsync(HttpStatusCode.OK))["history"]!.AsArray();
        Assert.Equal("system", (string?)history[0]!["actor"]);
        Assert.Contains("version 3 was deleted", (string?)history[0]!["reason"], StringComparison.Ordinal);
    }

    // A server whose ONNX loads and runs can be held (HeldFactory), with the unloader's decisions in the captured logs.
    internal static async Task<(MaasTestServer Server, HeldFactory Factory, CapturedLogs Logs)> StartWithHeldFactoryAsync(Action<IServiceCollection>? more = null)
    {
        var logs = new CapturedLogs();
        HeldFactory? factory = null;
        var settings = new Dictionary<string, string?>(DeploymentServers.Fast) { ["Logging:LogLevel:Maas.Server.Deployments.DeploymentUnloader"] = "Information" };
        var server = await MaasTestServer.StartAsync(settings: settings, configure: b =>
        {
            b.Logging.AddProvider(logs);
            b.Services.AddSingleton<IModelBackendFactory>(_ => factory = new HeldFactory(new OnnxBackendFactory()));
            more?.Invoke(b.Services);
        });
        _ = server.Services.GetRequiredService<IModelBackendFactory>();
        return (server, factory!, logs);
    }

    /// <summary>ONNX Runtime's factory, whose next load or next run of a chosen version waits until released.</summary>
    internal sealed class HeldFactory(IModelBackendFactory inner) : IModelBackendFactory
    {
        private int _held;
        private int _version;
        private bool _atLoad;

        public TaskCompletionSource Entered { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ManualResetEventSlim Released { get; } = new();

        public string Engine => inner.Engine;

        /// <summary>The next run of <paramref name="version"/> waits for <see cref="Released"/>.</summary>
        public void HoldNextRun(int version) => Hold(version, atLoad: false);

        /// <summary>The next load of <paramref name="version"/> waits for <see cref="Released"/>.</summary>
        public void HoldNextLoad(int version) => Hold(version, atLoad: true);

        public bool CanLoad(ModelFormat format) => inner.CanLoad(format);

        public IModelBackend Load(ModelLoadSpec spec, CancellationToken cancellationToken)
        {
            WaitIfHeld(spec.Version, atLoad: true);
            return new Held(this, spec.Version, inner.Load(spec, cancellationToken));
        }

        private void Hold(int version, bool atLoad)
        {
            Entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Released.Reset();
            _version = version;
            _atLoad = atLoad;
            Volatile.Write(ref _held, 1);
        }

        private void WaitIfHeld(int version, bool atLoad)
        {
            if (version == _version && atLoad == _atLoad && Interlocked.CompareExchange(ref _held, 0, 1) == 1)
            {
                Entered.TrySetResult();
                Released.Wait(TimeSpan.FromSeconds(30));
            }
        }

        private sealed class Held(HeldFactory factory, int version, IModelBackend backend) : IModelBackend
        {
            public string Platform => backend.Platform;

            public IReadOnlyList<TensorMetadata> Inputs => backend.Inputs;

            public IReadOnlyList<TensorMetadata> Outputs => backend.Outputs;

            public int InstanceCount => backend.InstanceCount;

            public IReadOnlyList<Tensor> Run(int instance, IReadOnlyList<Tensor> inputs, IReadOnlyList<string> outputNames, ComputeTimings timings)
            {
                factory.WaitIfHeld(version, atLoad: false);
                return backend.Run(instance, inputs, outputNames, timings);
            }

            public void Dispose() => backend.Dispose();
        }
    }

    [Fact]
    public async Task A_version_that_gets_traffic_back_while_its_unload_waits_for_its_calls_stays_loaded()
    {
        var (server, factory, logs) = await StartWithHeldFactoryAsync();
        await using var started = server;
        var client = server.Client;
        // A call the split sent to version 2 is running (held) ...
        var (model, held) = await DeployWithACallHeldOnVersion2Async(client, factory);
        var host = server.Services.GetRequiredService<ModelHost>();
        var v2 = new ModelKey(model, 2);

        // ... when version 2 loses its traffic (its unload waits for that call) and gets it back (warmed: still loaded).
        await (await client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.OK);
        await (await client.PatchAsync($"api/v1/deployments/{model}",
            Api.Json("""{"traffic": [{"version": 1, "percent": 50}, {"version": 2, "percent": 50}]}"""))).JsonAsync(HttpStatusCode.OK);
        var loads = host.LoadCount;
        factory.Released.Set();
        using (var answer = await held)
        {
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        // The pending unload used to go ahead once the call finished, and version 2 took half the calls cold.
        bool Kept() => logs.Lines.Any(l => l.Message.Contains($"{model} version 2 takes traffic again; it stays loaded", StringComparison.Ordinal));
        await AssertVersion2KeptAsync(client, host, model, Kept);

        Assert.Equal(loads, host.LoadCount);
    }

    [Fact]
    public async Task A_version_whose_unload_is_decided_between_a_change_s_warm_up_and_its_save_stays_loaded()
    {
        GatedStore? store = null;
        var (server, factory, logs) = await StartWithHeldFactoryAsync(services =>
            services.AddSingleton<IDeploymentStore>(sp => store = new GatedStore(new SqlDeploymentStore(sp.GetRequiredService<SqlRegistryStore>().Dialect))));
        await using var started = server;
        _ = server.Services.GetRequiredService<IDeploymentStore>();
        var client = server.Client;
        // A call the split sent to version 2 is running (held) when version 2 loses its traffic: its unload waits.
        var (model, held) = await DeployWithACallHeldOnVersion2Async(client, factory);
        var host = server.Services.GetRequiredService<ModelHost>();
        var v2 = new ModelKey(model, 2);

        await (await client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.OK);

        // A change gives version 2 its traffic back: warmed (still loaded), then held before its save ...
        var entered = store!.Close();
        var changing = client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"traffic": [{"version": 1, "percent": 50}, {"version": 2, "percent": 50}]}"""));
        await entered.WaitAsync(TimeSpan.FromSeconds(30));
        var loads = host.LoadCount;

        // ... while the held call ends and the unloader decides: the router's copy does not have the change yet.
        factory.Released.Set();
        using (var answer = await held)
        {
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        bool Kept() => logs.Lines.Any(l => l.Message.Contains($"{model} version 2 is being warmed by a deployment change; it stays loaded", StringComparison.Ordinal));
        await WaitUntilAsync(() => Kept() || host.Status(v2)!.State != ModelState.Ready, "the unloader decides about version 2");
        store.Release();
        await (await changing).JsonAsync(HttpStatusCode.OK);

        // Version 2 used to be unloaded there, and took its half of the calls cold once the change was stored.
        Assert.Equal(ModelState.Ready, host.Status(v2)!.State);
        Assert.True(Kept());
        for (var i = 0; i < 8; i++)
        {
            using var response = await client.PostAsync($"v2/models/{model}/versions/2/infer", Api.Json(Input));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(loads, host.LoadCount);
    }

    [Fact]
    public async Task A_deployed_version_deleted_with_force_never_makes_the_model_s_readiness_or_its_calls_answer_404()
    {
        // No resolve cache: readiness asks the registry about each version the split routes to, every time.
        var settings = new Dictionary<string, string?>(DeploymentServers.Fast) { ["Maas:Inference:ResolveCacheMs"] = "0" };
        GatedStore? store = null;
        await using var server = await MaasTestServer.StartAsync(settings: settings, configure: b => b.Services.AddSingleton<IDeploymentStore>(sp =>
            store = new GatedStore(new SqlDeploymentStore(sp.GetRequiredService<SqlRegistryStore>().Dialect))));
        _ = server.Services.GetRequiredService<IDeploymentStore>();
        var client = server.Client;
        var model = await TwoVersionsDeployedAsync(client, """[{"version": 1, "percent": 50}, {"version": 2, "percent": 50}]""");

        async Task<bool> ReadyAsync()
        {
            using var response = await client.GetAsync($"v2/models/{model}/ready");
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.BadRequest, $"{(int)response.StatusCode} {text}");
            return response.StatusCode == HttpStatusCode.OK;
        }

        Assert.True(await ReadyAsync());

        // Version 2 is deleted with force; the deployment's move off it (a change by system) is held at its save. The
        // version used to be deleted first: in that window readiness and half the calls answered 404.
        var entered = store!.Close();
        var deleting = client.DeleteAsync($"api/v1/models/{model}/versions/2?force=true");
        await entered.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(await ReadyAsync());
        Assert.NotEmpty(await VersionsServedAsync(client, model, 8));
        store.Release();
        Assert.Equal(HttpStatusCode.NoContent, (await deleting).StatusCode);

        Assert.True(await ReadyAsync());
        Assert.Equal(["1"], await VersionsServedAsync(client, model, 8));
        var shown = await (await client.GetAsync($"api/v1/deployments/{model}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("""[{"version":1,"percent":100}]""", shown["traffic"]!.ToJsonString());
        await (await client.GetAsync($"api/v1/models/{model}/versions/2")).ErrorAsync(HttpStatusCode.NotFound, "version_not_found");
    }

    [Fact]
    public async Task A_routed_version_deleted_behind_this_server_s_back_makes_the_model_not_ready_rather_than_unknown()
    {
        var settings = new Dictionary<string, string?>(DeploymentServers.Fast) { ["Maas:Inference:ResolveCacheMs"] = "0" };
        await using var server = await MaasTestServer.StartAsync(settings: settings);
        var client = server.Client;
        var model = await TwoVersionsDeployedAsync(client, """[{"version": 1, "percent": 50}, {"version": 2, "percent": 50}]""");

        // As another server's delete looks from here: the row is gone, the deployment this server routes by still names it.
        var registry = server.Services.GetRequiredService<Maas.Core.Registry.IModelRegistry>();
        var id = (await registry.GetModelAsync(model, CancellationToken.None)).Id;
        await server.Services.GetRequiredService<Maas.Core.Registry.IRegistryStore>().DeleteVersionAsync(id, 2, removeAliases: true, CancellationToken.None);

        using var response = await client.GetAsync($"v2/models/{model}/ready");
        var body = await response.JsonAsync(HttpStatusCode.BadRequest);
        Assert.False((bool)body["ready"]!);
    }

    [Fact]
    public async Task A_change_stored_just_before_its_caller_gives_up_keeps_the_versions_it_warmed_loaded()
    {
        var (server, store) = await StartAsync();
        await using var _ = server;
        var client = server.Client;
        var model = await TwoVersionsDeployedAsync(client, """[{"version": 1, "percent": 100}]""");
        var host = server.Services.GetRequiredService<ModelHost>();
        var v2 = new ModelKey(model, 2);
        Assert.NotEqual(ModelState.Ready, host.Status(v2)?.State);

        // A change gives version 2 half the traffic (warmed: loaded for it); its caller gives up right after the save.
        var service = server.Services.GetRequiredService<DeploymentService>();
        using var gaveUp = new CancellationTokenSource();
        store.CancelAfterNextSave(gaveUp);
        try
        {
            await service.UpdateAsync(service.Router.Find(model)!, new DeploymentSpec([new TrafficShare(1, 50), new TrafficShare(2, 50)], null, null, null), null, "test",
                gaveUp.Token);
        }
        catch (OperationCanceledException)
        {
            // It used to fail here, after its save, and unload version 2 as a failed change's warm-up.
        }

        var shown = await (await client.GetAsync($"api/v1/deployments/{model}")).JsonAsync(HttpStatusCode.OK);
        Assert.Equal("""[{"version":1,"percent":50},{"version":2,"percent":50}]""", shown["traffic"]!.ToJsonString());
        await WaitUntilAsync(() => service.Router.Find(model) is { } d && DeploymentRouter.RoutedVersions(d).Contains(2), "this server routes to version 2");
        Assert.Equal(ModelState.Ready, host.Status(v2)?.State);
        var loads = host.LoadCount;
        Assert.Equal(["1", "2"], (await VersionsServedAsync(client, model, 64)).Order());
        Assert.Equal(loads, host.LoadCount);
    }

    [Fact]
    public async Task A_version_a_failed_change_leaves_loading_stays_loaded_when_the_next_change_warms_it_from_that_load()
    {
        var (server, factory, logs) = await StartWithHeldFactoryAsync();
        await using var started = server;
        var client = server.Client;
        var model = await TwoVersionsDeployedAsync(client, """[{"version": 1, "percent": 100}]""");
        var host = server.Services.GetRequiredService<ModelHost>();
        var v2 = new ModelKey(model, 2);

        // Version 2 is loading (held), as a change's warm-up that ran out of time leaves it, and that failed change
        // unloads what it loaded: version 2, still loading, so its unload waits for the load to end.
        factory.HoldNextLoad(2);
        var named = client.PostAsync($"v2/models/{model}/versions/2/infer", Api.Json(Input));
        await factory.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(ModelState.Loading, host.Status(v2)!.State);
        await server.Services.GetRequiredService<DeploymentUnloader>().UnloadWarmedAsync(model, [2]);

        // The next change gives version 2 traffic: it claims it and its warm-up joins that load.
        var warming = server.Services.GetRequiredService<WarmingVersions>();
        var changing = client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"traffic": [{"version": 1, "percent": 50}, {"version": 2, "percent": 50}]}"""));
        await WaitUntilAsync(() => warming.IsWarming(v2), "the change claims version 2");
        var loads = host.LoadCount;
        factory.Released.Set();
        await (await changing).JsonAsync(HttpStatusCode.OK);
        using (var answer = await named)
        {
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        // The waiting unload used to go ahead once the load ended, and version 2 took its half of the calls cold.
        bool Kept() => logs.Lines.Any(l => l.Message.Contains($"{model} version 2 is being warmed by a deployment change; it stays loaded", StringComparison.Ordinal)
            || l.Message.Contains($"{model} version 2 takes traffic again; it stays loaded", StringComparison.Ordinal));
        await AssertVersion2KeptAsync(client, host, model, Kept);

        Assert.Equal(loads + 1, host.LoadCount);
    }

    // Two versions split 50/50 by a deployment (two instances each, so a warm-up's sample runs beside a held call), and
    // a call the split sent to version 2 held inside its run until factory.Released is set.
    // The unloader decided to keep version 2 (its log line says so) and it answers calls from the load it has.
    private static async Task AssertVersion2KeptAsync(HttpClient client, ModelHost host, string model, Func<bool> kept)
    {
        var v2 = new ModelKey(model, 2);
        await WaitUntilAsync(() => kept() || host.Status(v2)!.State != ModelState.Ready, "the unloader decides about version 2");
        Assert.Equal(ModelState.Ready, host.Status(v2)!.State);
        Assert.True(kept());
        for (var i = 0; i < 8; i++)
        {
            using var response = await client.PostAsync($"v2/models/{model}/versions/2/infer", Api.Json(Input));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    // A model with versions 1 and 2, deployed with the split `traffic` (its JSON array).
    private static async Task<string> TwoVersionsDeployedAsync(HttpClient client, string traffic)
    {
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, TestArtifacts.Onnx(1), "model.onnx");
        await client.UploadAsync(model, TestArtifacts.Onnx(2), "model.onnx");
        await (await client.PostAsync("api/v1/deployments", Api.Json($$"""{"model": "{{model}}", "traffic": {{traffic}}}"""))).JsonAsync(HttpStatusCode.Created);
        return model;
    }

    internal static async Task<(string Model, Task<HttpResponseMessage> Held)> DeployWithACallHeldOnVersion2Async(HttpClient client, HeldFactory factory)
    {
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, TestArtifacts.Onnx(1), "model.onnx");
        await client.UploadAsync(model, TestArtifacts.Onnx(2), "model.onnx");
        (await client.PutAsync($"api/v1/models/{model}/config", Api.Json("""{"instance_count": 2}"""))).EnsureSuccessStatusCode();
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 50}, {"version": 2, "percent": 50}]}"""))).JsonAsync(HttpStatusCode.Created);
        factory.HoldNextRun(2);
        while (true)
        {
            var call = client.PostAsync($"v2/models/{model}/infer", Api.Json(Input));
            if (await Task.WhenAny(call, factory.Entered.Task) == call && !factory.Entered.Task.IsCompleted)
            {
                (await call).Dispose(); // the split sent it to version 1
            }
            else
            {
                return (model, call);
            }
        }
    }
}
