using System.IO.MemoryMappedFiles;
using Maas.Core.Formats;
using Maas.Core.Hosting;
using Maas.Core.TensorServing;
using Maas.Core.Tests.TensorServing;
using Maas.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Maas.Core.Tests.Hosting;

// Alone: a model's accounted bytes include the process's resident rise during its load, which test classes running
// beside these would inflate (a pinned model once measured 2.4 MB of a 2.5 MB budget, and the next load was refused).
[CollectionDefinition(nameof(ModelHostTests), DisableParallelization = true)]
public sealed class ModelHostCollection;

/// <summary>The model host over real CPU backends: idle sweep on a fake clock, leases, the memory budget and pins.</summary>
[Collection(nameof(ModelHostTests))]
public sealed class ModelHostTests : IDisposable
{
    private const long ModelBytes = 1_000_000;

    private readonly string _dir = Directory.CreateTempSubdirectory("maas-host-").FullName;
    private readonly ListCatalog _catalog = new();
    private readonly CpuBackendFactory _factory = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ServableModel Add(string name, TimeSpan? keepAlive = null, bool pinned = false, int fileBytes = 0)
    {
        var path = Path.Combine(_dir, $"{name}-1.onnx");
        if (fileBytes > 0)
        {
            File.WriteAllBytes(path, new byte[fileBytes]);
        }
        else
        {
            File.WriteAllText(path, "model");
        }

        _catalog.Paths[(name, 1)] = path;
        var servable = new ServableModel
        {
            Name = name,
            Version = 1,
            Format = ModelFormat.Onnx,
            Scheduler = new SchedulerOptions(),
            KeepAlive = keepAlive,
            Pinned = pinned,
            SizeBytes = ModelBytes,
        };
        _catalog.Models.Add(servable);
        return servable;
    }

    private (ModelHost Host, ModelManager Manager) Create(long budget = 0, TimeSpan? mappedRefresh = null)
    {
        // The load peak is the whole process's resident rise during a load, which other tests running in parallel in
        // this process inflate; these tests count the models' own sizes, so they reserve only what a model keeps.
        var options = new ModelHostOptions { MemoryBudgetBytes = budget, IdleSweepInterval = TimeSpan.FromSeconds(1), ReserveLoadPeak = false };
        var host = new ModelHost(
            [new TensorModelEngine(_factory, _catalog)],
            mappedRefresh is { } refresh ? options with { MappedMemoryRefreshInterval = refresh } : options,
            _time);
        return (host, new ModelManager(_catalog, host, new ModelManagerOptions { ResolveCacheTime = TimeSpan.Zero }));
    }

    [Fact]
    public async Task The_idle_sweep_runs_on_the_host_clock_and_unloads_after_the_keep_alive_but_never_a_pinned_model()
    {
        Add("brief", keepAlive: TimeSpan.FromSeconds(30));
        Add("pinned", keepAlive: TimeSpan.FromSeconds(30), pinned: true);
        var (host, manager) = Create();
        await using var _ = host;
        (await manager.InferAsync("brief", null, Requests.Rows(1), default)).Dispose();
        (await manager.InferAsync("pinned", null, Requests.Rows(1), default)).Dispose();

        _time.Advance(TimeSpan.FromSeconds(29)); // the sweep runs every second of fake time: not idle long enough yet
        Assert.Equal(ModelState.Ready, host.Status(new ModelKey("brief", 1))!.State);

        _time.Advance(TimeSpan.FromSeconds(2));
        await Conditions.WaitUntilAsync(() => host.Status(new ModelKey("brief", 1))!.State == ModelState.Unavailable);
        Assert.Equal(ModelHost.NotLoadedReason, host.Status(new ModelKey("brief", 1))!.Reason);
        Assert.Equal(ModelState.Ready, host.Status(new ModelKey("pinned", 1))!.State);
        Assert.True(_factory.Loaded[0].Disposed);

        // It loads again on its next request.
        (await manager.InferAsync("brief", null, Requests.Rows(1), default)).Dispose();
        Assert.Equal(3, _factory.Loads);
    }

    // The tensor engine, whose memory estimate throws while Faulty is set (as an engine handed settings it cannot read did).
    private sealed class FaultyEstimateEngine(IModelEngine inner) : IModelEngine
    {
        public bool Faulty { get; set; } = true;

        public string Name => inner.Name;

        public IReadOnlyList<ModelFormat> Formats => inner.Formats;

        public long EstimateMemoryBytes(ModelLoadRequest request) =>
            Faulty ? throw new ArgumentException("settings this engine cannot read", nameof(request)) : inner.EstimateMemoryBytes(request);

        public Task<IHostedModel> LoadAsync(ModelLoadRequest request, CancellationToken cancellationToken) => inner.LoadAsync(request, cancellationToken);
    }

    [Fact]
    public async Task Forgotten_versions_leave_no_entry_whether_loaded_and_busy_failed_to_load_or_held_unloaded()
    {
        var loaded = Add("loaded");
        var failing = Add("failing");
        var held = Add("held");
        var engine = new FaultyEstimateEngine(new TensorModelEngine(_factory, _catalog));
        var host = new ModelHost([engine], new ModelHostOptions { ReserveLoadPeak = false }, _time);
        await using var _ = host;
        var manager = new ModelManager(_catalog, host, new ModelManagerOptions());

        await Assert.ThrowsAsync<ModelHostException>(() => host.AcquireAsync(manager.RequestFor(failing), default));
        engine.Faulty = false;
        host.Hold(manager.RequestFor(held));
        var lease = await host.AcquireAsync(manager.RequestFor(loaded), default);
        Assert.Equal(3, host.Models().Count);

        // A busy version goes once its request is done; the others at once.
        var forgetting = host.ForgetAsync("loaded", null);
        await host.ForgetAsync("failing", 1);
        await host.ForgetAsync("held", null);
        Assert.False(forgetting.IsCompleted);
        lease.Dispose();
        await forgetting.WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Empty(host.Models());
        Assert.True(_factory.Loaded.Single().Disposed);
    }

    [Fact]
    public async Task An_engine_fault_before_its_load_fails_that_load_only_and_the_version_loads_once_retried()
    {
        var servable = Add("faulty");
        var engine = new FaultyEstimateEngine(new TensorModelEngine(_factory, _catalog));
        var host = new ModelHost([engine], new ModelHostOptions { ReserveLoadPeak = false }, _time);
        await using var _ = host;
        var request = new ModelManager(_catalog, host, new ModelManagerOptions()).RequestFor(servable);

        var failed = await Assert.ThrowsAsync<ModelHostException>(() => host.AcquireAsync(request, default));
        Assert.Equal(ModelHostErrorKind.LoadFailed, failed.Kind);
        Assert.Contains("settings this engine cannot read", failed.Message, StringComparison.Ordinal);
        Assert.Equal(ModelState.Unavailable, host.Status(request.Key)!.State);

        // Before, the failed load stayed the version's load in progress: every later call met the same exception.
        engine.Faulty = false;
        _time.Advance(new ModelHostOptions().RetryFailedLoadAfter + TimeSpan.FromSeconds(1));
        using (await host.AcquireAsync(request, default))
        {
            Assert.Equal(ModelState.Ready, host.Status(request.Key)!.State);
        }

        Assert.Equal(1, _factory.Loads);
    }

    [Fact]
    public async Task A_load_blocks_a_thread_of_its_own_and_none_of_the_thread_pool()
    {
        Add("own");
        var (host, manager) = Create();
        await using var _ = host;
        (await manager.InferAsync("own", null, Requests.Rows(1), default)).Dispose();
        Assert.Equal([false], _factory.LoadedOnPoolThread);
    }

    [Fact]
    public async Task A_held_model_is_not_unloaded_idle_and_an_unload_waits_for_its_leases()
    {
        var servable = Add("held", keepAlive: TimeSpan.FromSeconds(5));
        var (host, manager) = Create();
        await using var _ = host;
        var request = manager.RequestFor(servable);
        var leases = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => host.AcquireAsync(request, default)));
        Assert.Equal(1, _factory.Loads); // concurrent first callers share one load
        Assert.Equal(3, host.InFlight(request.Key));

        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(await host.UnloadIdleAsync());

        var unloading = host.UnloadAsync(request.Key, hold: true);
        Assert.Equal(ModelState.Unloading, host.Status(request.Key)!.State);
        leases[0].Dispose();
        leases[1].Dispose();
        Assert.False(unloading.IsCompleted);
        Assert.False(_factory.Loaded[0].Disposed);
        leases[2].Dispose();
        var state = await unloading;
        Assert.Equal((ModelState.Unavailable, ModelHost.UnloadedReason), (state!.State, state.Reason));
        Assert.True(_factory.Loaded[0].Disposed);
        var refused = await Assert.ThrowsAsync<ModelHostException>(() => host.AcquireAsync(request, default));
        Assert.Equal(ModelHostErrorKind.Unloaded, refused.Kind);
    }

    [Fact]
    public async Task The_serving_activity_counts_leases_taken_and_out()
    {
        var servable = Add("busy");
        var (host, manager) = Create();
        await using var _ = host;
        var request = manager.RequestFor(servable);
        var before = host.Activity.Read();
        Assert.Equal(new ServingActivitySnapshot(0, 0), before);

        var first = await host.AcquireAsync(request, default); // the load, then the lease
        var second = await host.AcquireAsync(request, default);
        Assert.Equal(new ServingActivitySnapshot(2, 2), host.Activity.Read());
        Assert.True(host.Activity.Read().BusySince(before));
        first.Dispose();
        first.Dispose(); // a lease gives back once
        second.Dispose();
        var after = host.Activity.Read();
        Assert.Equal(new ServingActivitySnapshot(2, 0), after);
        Assert.False(host.Activity.Read().BusySince(after)); // nothing since: idle

        // A request served through the manager (lease taken and given back) shows as activity since the last reading.
        (await manager.InferAsync("busy", null, Requests.Rows(1), default)).Dispose();
        Assert.True(host.Activity.Read().BusySince(after));
        Assert.Equal(0, host.Activity.InFlight);
    }

    [Fact]
    public async Task A_budget_smaller_than_three_models_keeps_serving_all_three_by_evicting_the_least_recently_used()
    {
        string[] names = ["a", "b", "c"];
        foreach (var name in names)
        {
            Add(name);
        }

        var (host, manager) = Create(budget: (long)(2.5 * ModelBytes));
        await using var _ = host;
        for (var round = 0; round < 3; round++)
        {
            foreach (var name in names)
            {
                using var response = await manager.InferAsync(name, null, Requests.Rows(round), default);
                Assert.Equal(new float[] { (2 * round) + 1, (2 * round) + 3, (2 * round) + 5, (2 * round) + 7 }, response.Floats("y"));
                _time.Advance(TimeSpan.FromSeconds(1)); // so "least recently used" is a strict order
                Assert.True(host.AccountedBytes() <= 2.5 * ModelBytes, $"{host.AccountedBytes()} bytes accounted");
            }
        }

        // Two fit: every request after the first two found its model evicted by the one before.
        Assert.Equal(9, _factory.Loads);
        Assert.Equal(2, host.Models().Count(m => m.State == ModelState.Ready));
        Assert.Contains("evicted", host.Status(new ModelKey("a", 1))!.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_pinned_model_is_never_evicted_and_a_model_that_cannot_fit_is_refused_with_the_budget()
    {
        Add("pinned", pinned: true);
        Add("x");
        Add("y");
        var (host, manager) = Create(budget: (long)(2.5 * ModelBytes));
        await using var _ = host;
        (await manager.InferAsync("pinned", null, Requests.Rows(1), default)).Dispose();
        var loadedAt = host.Status(new ModelKey("pinned", 1))!.LoadedAt;
        for (var round = 0; round < 3; round++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            (await manager.InferAsync("x", null, Requests.Rows(1), default)).Dispose();
            _time.Advance(TimeSpan.FromSeconds(1));
            (await manager.InferAsync("y", null, Requests.Rows(1), default)).Dispose();
        }

        var pinned = host.Status(new ModelKey("pinned", 1))!;
        Assert.Equal((ModelState.Ready, loadedAt), (pinned.State, pinned.LoadedAt));
        Assert.Equal(1 + 6, _factory.Loads); // x and y took turns in the one free place

        // With y busy, x has nowhere to go: it waits the room wait limit for y to finish, then is refused, naming the
        // budget and the wait.
        var y = await host.AcquireAsync(manager.RequestFor(_catalog.Models.Single(m => m.Name == "y")), default);
        using (y)
        {
            var x = manager.InferAsync("x", null, Requests.Rows(1), default);
            await WaitUntilWaitingForRoomAsync(host, "x");
            _time.Advance(TimeSpan.FromSeconds(30)); // the wait runs on the host's clock
            var refused = await Assert.ThrowsAsync<InferenceException>(() => x);
            Assert.Contains("Maas:Hosting:MemoryBudgetBytes", refused.Message, StringComparison.Ordinal);
            Assert.Contains("2500000", refused.Message, StringComparison.Ordinal);
            Assert.Contains("waited 30000 ms, Maas:Hosting:RoomWaitMs", refused.Message, StringComparison.Ordinal);
            Assert.Equal(ModelState.Ready, host.Status(new ModelKey("y", 1))!.State);
        }
    }

    [Fact]
    public async Task A_load_that_needs_a_busy_models_place_waits_for_it_to_finish_and_then_evicts_it()
    {
        Add("x");
        Add("y");
        var (host, manager) = Create(budget: (long)(1.5 * ModelBytes));
        await using var _ = host;
        var y = await host.AcquireAsync(manager.RequestFor(_catalog.Models.Single(m => m.Name == "y")), default);
        Task<InferenceResponse> x;
        using (y)
        {
            x = manager.InferAsync("x", null, Requests.Rows(1), default);
            await WaitUntilWaitingForRoomAsync(host, "x");
            Assert.False(x.IsCompleted);
            Assert.Equal(ModelState.Ready, host.Status(new ModelKey("y", 1))!.State);
        }

        // y's lease ends (as a response's does after it is written): x takes its place without the clock moving.
        (await x).Dispose();
        Assert.Equal(ModelState.Ready, host.Status(new ModelKey("x", 1))!.State);
        Assert.Contains("evicted", host.Status(new ModelKey("y", 1))!.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_load_that_would_not_fit_even_without_the_busy_models_is_refused_at_once()
    {
        Add("pinned", pinned: true);
        Add("x");
        Add("y");
        var (host, manager) = Create(budget: (long)(1.5 * ModelBytes));
        await using var _ = host;
        (await manager.InferAsync("pinned", null, Requests.Rows(1), default)).Dispose();
        _time.Advance(TimeSpan.FromSeconds(1));

        // Only the pinned model's place is left over, and it never frees: no wait, the clock never moves.
        var refused = await Assert.ThrowsAsync<InferenceException>(() => manager.InferAsync("x", null, Requests.Rows(1), default));
        Assert.Contains("pinned or busy", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("waited", refused.Message, StringComparison.Ordinal);
    }

    private static Task WaitUntilWaitingForRoomAsync(ModelHost host, string name) =>
        Conditions.WaitUntilAsync(
            () => host.Status(new ModelKey(name, 1)) is { State: ModelState.Loading } s && s.Reason.StartsWith("waiting for a busy model", StringComparison.Ordinal),
            $"{name} waits for a busy model to finish");

    [Fact]
    public async Task A_loaded_models_mapped_pages_are_read_once_per_refresh_interval_however_often_they_are_asked_for()
    {
        const int FileBytes = 4 << 20;
        Add("mapped", fileBytes: FileBytes);
        _factory.MapWeights = true;
        var (host, manager) = Create(mappedRefresh: TimeSpan.FromSeconds(30));
        await using var _ = host;
        (await manager.InferAsync("mapped", null, Requests.Rows(1), default)).Dispose();
        var key = new ModelKey("mapped", 1);
        Assert.Equal(1, host.MappedMemoryReads); // the load measures its own file

        var first = host.Models(measureMappedFiles: true).Single(m => m.Key == key).Memory!;
        Assert.InRange(first.MappedFileBytes, FileBytes / 2, FileBytes + (1 << 20));
        Assert.Equal(2, host.MappedMemoryReads);
        var readAt = host.MappedMemoryReadAt;
        Assert.Equal((DateTimeOffset?)_time.GetUtcNow(), readAt);

        // Scrapes within the interval reuse that reading; the model's numbers stay.
        for (var scrape = 0; scrape < 5; scrape++)
        {
            _time.Advance(TimeSpan.FromSeconds(5));
            Assert.Equal(first.MappedFileBytes, host.Models(measureMappedFiles: true).Single(m => m.Key == key).Memory!.MappedFileBytes);
        }

        Assert.Equal((2L, readAt), (host.MappedMemoryReads, host.MappedMemoryReadAt));

        // Past it the next one reads again; a reading without measuring (state gauges) never reads.
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(ModelState.Ready, host.Models().Single(m => m.Key == key).State);
        Assert.Equal(2, host.MappedMemoryReads);
        var again = host.Models(measureMappedFiles: true).Single(m => m.Key == key).Memory!;
        Assert.InRange(again.MappedFileBytes, FileBytes / 2, FileBytes + (1 << 20));
        Assert.Equal((3L, (DateTimeOffset?)_time.GetUtcNow()), (host.MappedMemoryReads, host.MappedMemoryReadAt));
    }

    [Fact]
    public void Mapped_file_pages_are_counted_from_smaps()
    {
        var path = Path.Combine(_dir, "weights.bin");
        var bytes = 4 << 20;
        File.WriteAllBytes(path, new byte[bytes]);
        var before = ProcessMemory.MappedFileBytes([path])[path];
        using var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        using var view = file.CreateViewAccessor(0, bytes, MemoryMappedFileAccess.Read);
        long sum = 0;
        for (var offset = 0; offset < bytes; offset += 4096)
        {
            sum += view.ReadByte(offset); // touch every page so it is resident
        }

        var mapped = ProcessMemory.MappedFileBytes([path])[path];
        Assert.Equal(0, before);
        Assert.Equal(0, sum);
        Assert.InRange(mapped, bytes / 2, bytes + (1 << 20));
        Assert.True(ProcessMemory.ResidentBytes() > mapped);
    }
}
