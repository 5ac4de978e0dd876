using Maas.Core.Formats;
using Maas.Core.TensorServing;
using Maas.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Maas.Core.Tests.TensorServing;

public sealed class ModelManagerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("maas-manager-").FullName;
    private readonly ListCatalog _catalog = new();
    private readonly CpuBackendFactory _factory = new();

    public ModelManagerTests()
    {
        Add("m", 1);
        Add("m", 2);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Add(string name, int version, bool file = true, bool atStart = false, TimeSpan? keepAlive = null)
    {
        var path = Path.Combine(_dir, $"{name}-{version}.onnx");
        if (file)
        {
            File.WriteAllText(path, "model");
        }

        _catalog.Paths[(name, version)] = path;
        _catalog.Models.Add(new ServableModel
        {
            Name = name,
            Version = version,
            Format = ModelFormat.Onnx,
            Scheduler = new SchedulerOptions(),
            LoadAtStart = atStart,
            KeepAlive = keepAlive,
        });
    }

    private ModelManager Manager(TimeProvider? time = null) => new(_catalog, [_factory], new ModelManagerOptions { ResolveCacheTime = TimeSpan.Zero }, time);

    [Fact]
    public async Task The_first_requests_load_the_version_once_and_wait_for_it()
    {
        _factory.LoadTime = TimeSpan.FromMilliseconds(200);
        await using var manager = Manager();
        Assert.Equal("UNAVAILABLE", manager.State("m", 2).State);
        Assert.True(await manager.IsReadyAsync("m", null, default));
        var calls = Enumerable.Range(0, 4).Select(i => manager.InferAsync("m", null, Requests.Rows(i), default)).ToArray();
        var responses = await Task.WhenAll(calls);
        Assert.All(responses, r => Assert.Equal("2", r.ModelVersion));
        Assert.Equal(1, _factory.Loads);
        Assert.Equal("READY", manager.State("m", 2).State);
        using var v1 = await manager.InferAsync("m", "1", Requests.Rows(0), default);
        Assert.Equal("1", v1.ModelVersion);
        Assert.Equal(2, _factory.Loads);
    }

    [Fact]
    public async Task Unloading_drains_in_flight_requests_and_stays_unloaded_until_loaded_again()
    {
        await using var manager = Manager();
        var scheduler = await manager.AcquireAsync("m", "2", default);
        var backend = _factory.Loaded.Single();
        backend.Close();
        var inFlight = manager.InferAsync("m", "2", Requests.Rows(1), default);
        await Conditions.WaitUntilAsync(() => backend.Started == 1);
        var unloading = manager.UnloadAsync("m", "2", default);
        await Conditions.WaitUntilAsync(() => manager.State("m", 2).State == "UNLOADING");
        Assert.False(unloading.IsCompleted);
        backend.Open();
        var states = await unloading;
        Assert.Equal("UNAVAILABLE", states.Single().State);
        Assert.Equal("unloaded", states.Single().Reason);
        using (var r = await inFlight)
        {
            Assert.Equal(new float[] { 3, 5, 7, 9 }, r.Floats("y"));
        }

        Assert.True(backend.Disposed);
        var refused = await Assert.ThrowsAsync<InferenceException>(() => manager.InferAsync("m", "2", Requests.Rows(1), default));
        Assert.Equal(InferenceErrorKind.Unavailable, refused.Kind);
        Assert.False(await manager.IsReadyAsync("m", "2", default));

        var loaded = await manager.LoadAsync("m", "2", default);
        Assert.Equal("READY", loaded.State);
        using var again = await manager.InferAsync("m", "2", Requests.Rows(1), default);
        var stats = (await manager.StatisticsAsync("m", "2", default)).Single();
        Assert.Equal(2, stats.Success.Count); // statistics survive the reload
    }

    [Fact]
    public async Task Unloading_a_model_without_a_version_unloads_all_of_it()
    {
        await using var manager = Manager();
        (await manager.InferAsync("m", "1", Requests.Rows(1), default)).Dispose();
        (await manager.InferAsync("m", "2", Requests.Rows(1), default)).Dispose();
        var states = await manager.UnloadAsync("m", null, default);
        Assert.Equal([1, 2], states.Select(s => s.Version).Order());
        await Assert.ThrowsAsync<InferenceException>(() => manager.InferAsync("m", null, Requests.Rows(1), default));
        var index = await manager.IndexAsync(readyOnly: false, default);
        Assert.All(index, s => Assert.Equal(("UNAVAILABLE", "unloaded"), (s.State, s.Reason)));
        await manager.LoadAsync("m", null, default);
        Assert.Equal(["m"], (await manager.IndexAsync(readyOnly: true, default)).Select(s => s.Name));
    }

    [Fact]
    public async Task A_failed_load_is_reported_with_its_reason()
    {
        Add("broken", 1, file: false);
        await using var manager = Manager();
        var ex = await Assert.ThrowsAsync<InferenceException>(() => manager.InferAsync("broken", null, Requests.Rows(1), default));
        Assert.Equal(InferenceErrorKind.Unavailable, ex.Kind);
        Assert.Contains("no model file", ex.Message);
        var state = manager.State("broken", 1);
        Assert.Equal("UNAVAILABLE", state.State);
        Assert.Contains("no model file", state.Reason);
        var again = await Assert.ThrowsAsync<InferenceException>(() => manager.InferAsync("broken", null, Requests.Rows(1), default));

        // Said once: the reason used to carry its own "load failed: ", so this read "failed to load: load failed: ...".
        Assert.Contains("failed to load: ", again.Message);
        Assert.DoesNotContain("load failed", again.Message);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(again.Message, "fail"));
        Assert.Equal(1, _factory.Loads); // not retried on every request
    }

    [Fact]
    public async Task Unknown_models_are_not_found()
    {
        await using var manager = Manager();
        var ex = await Assert.ThrowsAsync<InferenceException>(() => manager.InferAsync("nope", null, Requests.Rows(1), default));
        Assert.Equal(InferenceErrorKind.NotFound, ex.Kind);
    }

    [Fact]
    public async Task A_loaded_version_is_ready_and_described_by_its_backend()
    {
        Add("eager", 1, atStart: true);
        await using var manager = Manager();
        var state = await manager.LoadAsync("eager", "1", default);
        Assert.Equal(("eager", "READY"), (state.Name, state.State));
        var description = await manager.DescribeAsync("eager", null, default);
        Assert.True(description.Loaded);
        Assert.Equal("cpu_test", description.Platform);
        Assert.Equal(["x"], description.Inputs.Select(i => i.Name));
    }

    [Fact]
    public async Task A_changed_configuration_reloads_the_loaded_version_and_swaps_it_in()
    {
        await using var manager = Manager();
        var before = await manager.AcquireAsync("m", "2", default);
        (await manager.InferAsync("m", "2", Requests.Rows(1), default)).Dispose();
        var index = _catalog.Models.FindIndex(m => m.Version == 2);
        _catalog.Models[index] = _catalog.Models[index] with { Scheduler = new SchedulerOptions { MaxBatchSize = 4, QueueLimit = 7 } };
        await manager.RefreshAsync("m", default);
        var after = await manager.AcquireAsync("m", "2", default);
        Assert.NotSame(before, after);
        Assert.Equal((4, 7), (after.Options.MaxBatchSize, after.Options.QueueLimit));
        Assert.True(_factory.Loaded[0].Disposed);
        Assert.Equal(2, _factory.Loads);
        (await manager.InferAsync("m", "2", Requests.Rows(1), default)).Dispose();
        Assert.Equal(2, (await manager.StatisticsAsync("m", "2", default)).Single().Success.Count);

        await manager.RefreshAsync("m", default); // nothing changed: no reload
        Assert.Equal(2, _factory.Loads);
    }

    [Fact]
    public async Task Two_refreshes_started_from_one_loaded_instance_keep_the_newer_settings_whichever_load_finishes_first()
    {
        await using var manager = Manager();
        (await manager.InferAsync("m", "2", Requests.Rows(1), default)).Dispose();
        var index = _catalog.Models.FindIndex(m => m.Version == 2);
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        _factory.BeforeLoad = spec =>
        {
            if (spec.InstanceCount == 2)
            {
                entered.Set();
                release.Wait(TimeSpan.FromSeconds(30));
            }
        };

        // The first refresh's load is held; the second starts from the same loaded instance and waits for the load gate.
        _catalog.Models[index] = _catalog.Models[index] with { Scheduler = new SchedulerOptions { InstanceCount = 2 } };
        var first = manager.RefreshAsync("m", default);
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)));
        _catalog.Models[index] = _catalog.Models[index] with { Scheduler = new SchedulerOptions { InstanceCount = 3 } };
        var second = manager.RefreshAsync("m", default);
        release.Set();
        await Task.WhenAll(first, second);

        // The older settings' load finished first and used to be kept, the newer one dropped as "replaced meanwhile".
        var lease = await manager.AcquireAsync("m", "2", default);
        Assert.Equal(3, lease.Options.InstanceCount);
        Assert.Equal(3, _factory.Loads);
        Assert.True(_factory.Loaded[1].Disposed); // the older reload is retired
        (await manager.InferAsync("m", "2", Requests.Rows(1), default)).Dispose();

        // Settings put back to the loaded ones while a reload to others runs: the reload is not kept either.
        release.Reset();
        entered.Reset();
        _catalog.Models[index] = _catalog.Models[index] with { Scheduler = new SchedulerOptions { InstanceCount = 2 } };
        first = manager.RefreshAsync("m", default);
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)));
        _catalog.Models[index] = _catalog.Models[index] with { Scheduler = new SchedulerOptions { InstanceCount = 3 } };
        await manager.RefreshAsync("m", default); // the same as loaded: nothing to load
        release.Set();
        await first;
        var after = await manager.AcquireAsync("m", "2", default);
        Assert.Equal(3, after.Options.InstanceCount);
    }

    [Fact]
    public async Task A_version_idle_past_its_keep_alive_unloads_and_loads_again_on_demand()
    {
        Add("brief", 1, keepAlive: TimeSpan.FromSeconds(1));
        var time = new FakeTimeProvider(); // the keep-alive passes when the test says, not when a busy machine gets round to it
        await using var manager = Manager(time);
        (await manager.InferAsync("m", null, Requests.Rows(1), default)).Dispose();
        (await manager.InferAsync("brief", null, Requests.Rows(1), default)).Dispose();
        Assert.Empty(await manager.UnloadIdleAsync());
        time.Advance(TimeSpan.FromMilliseconds(1300));
        var unloaded = await manager.UnloadIdleAsync();
        Assert.Equal(["brief"], unloaded.Select(s => s.Name)); // "m" has no keep-alive
        Assert.True(await manager.IsReadyAsync("brief", null, default));
        (await manager.InferAsync("brief", null, Requests.Rows(1), default)).Dispose();
        Assert.Equal(3, _factory.Loads);
    }

    [Fact]
    public async Task Active_requests_are_counted_per_version()
    {
        await using var manager = Manager();
        await manager.AcquireAsync("m", "1", default);
        var backend = _factory.Loaded.Single();
        backend.Close();
        var running = manager.InferAsync("m", "1", Requests.Rows(1), default);
        var queued = manager.InferAsync("m", "1", Requests.Rows(2, rows: 2), default);
        await Conditions.WaitUntilAsync(() => manager.ActiveRequests("m", 1) == 2);
        Assert.Equal(0, manager.ActiveRequests("m", 2));
        backend.Open();
        await Task.WhenAll(running, queued);

        // A request stops counting as its work ends, which may be just after its caller has the answer.
        await Conditions.WaitUntilAsync(() => manager.ActiveRequests("m", 1) == 0);
    }
}
