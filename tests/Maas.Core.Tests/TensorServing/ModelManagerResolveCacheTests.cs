using Maas.Core.Formats;
using Maas.Core.TensorServing;

namespace Maas.Core.Tests.TensorServing;

/// <summary>
/// The manager's cache of resolutions stays within its configured bound however many names callers ask for, and never
/// keeps what was read before an invalidation.
/// </summary>
public sealed class ModelManagerResolveCacheTests
{
    [Fact]
    public async Task Resolutions_past_the_bound_start_the_cache_over_and_one_already_cached_keeps_it()
    {
        var catalog = new ListCatalog();
        for (var i = 0; i < 50; i++)
        {
            catalog.Models.Add(new ServableModel { Name = $"m{i}", Version = 1, Format = ModelFormat.Onnx, Scheduler = new SchedulerOptions() });
        }

        await using var manager = new ModelManager(catalog, [], new ModelManagerOptions { ResolveCacheTime = TimeSpan.FromHours(1), ResolveCacheEntries = 3 });
        for (var i = 0; i < 3; i++)
        {
            await manager.LabelsAsync($"m{i}", "1", CancellationToken.None);
        }

        Assert.Equal(3, manager.ResolvedCount);
        await manager.LabelsAsync("m0", "1", CancellationToken.None); // cached already: nothing goes
        Assert.Equal(3, manager.ResolvedCount);
        await manager.LabelsAsync("m3", "1", CancellationToken.None); // a fourth: the cache starts over with it
        Assert.Equal(1, manager.ResolvedCount);

        for (var i = 0; i < 50; i++)
        {
            await manager.LabelsAsync($"m{i}", "1", CancellationToken.None);
            Assert.InRange(manager.ResolvedCount, 1, 3);
        }
    }

    [Fact]
    public async Task A_resolution_read_before_an_invalidation_is_not_cached_after_it()
    {
        static ServableModel Labelled(string label) => new()
        {
            Name = "m",
            Version = 1,
            Format = ModelFormat.Onnx,
            Scheduler = new SchedulerOptions(),
            Labels = new Dictionary<string, IReadOnlyList<string>> { ["output"] = [label] },
        };
        var list = new ListCatalog();
        list.Models.Add(Labelled("old"));
        var catalog = new HeldCatalog(list);
        await using var manager = new ModelManager(catalog, [], new ModelManagerOptions { ResolveCacheTime = TimeSpan.FromHours(1) });

        // A resolution reads the old labels and is held before it returns; the registry changes and says so meanwhile.
        var held = manager.LabelsAsync("m", "1", CancellationToken.None).AsTask();
        await catalog.Reading.WaitAsync(Maas.Testing.Conditions.Ceiling);
        list.Models[0] = Labelled("new");
        manager.InvalidateResolutions();
        catalog.Release.SetResult();
        Assert.Equal(["old"], (await held)!["output"]);

        Assert.Equal(["new"], (await manager.LabelsAsync("m", "1", CancellationToken.None))!["output"]);
    }

    // Holds the first resolution after it has read the list, until the test releases it.
    private sealed class HeldCatalog(ListCatalog inner) : IServableModelCatalog
    {
        private readonly TaskCompletionSource _reading = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _calls;

        public Task Reading => _reading.Task;

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async ValueTask<ServableModel> ResolveAsync(string model, string? version, CancellationToken cancellationToken)
        {
            var found = await inner.ResolveAsync(model, version, cancellationToken);
            if (Interlocked.Increment(ref _calls) == 1)
            {
                _reading.SetResult();
                await Release.Task;
            }

            return found;
        }

        public ValueTask<IReadOnlyList<ServableModel>> ListAsync(CancellationToken cancellationToken) => inner.ListAsync(cancellationToken);

        public ValueTask<IReadOnlyList<int>> VersionsAsync(string name, CancellationToken cancellationToken) => inner.VersionsAsync(name, cancellationToken);

        public ValueTask<string> GetArtifactPathAsync(ServableModel model, CancellationToken cancellationToken) => inner.GetArtifactPathAsync(model, cancellationToken);
    }
}
