using Maas.Core.Formats;
using Maas.Core.TensorServing;

namespace Maas.Core.Tests.TensorServing;

/// <summary>The manager's cache of resolutions stays within its configured bound however many names callers ask for.</summary>
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
}
