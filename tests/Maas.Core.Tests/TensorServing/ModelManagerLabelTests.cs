using Maas.Core.Formats;
using Maas.Core.TensorServing;

namespace Maas.Core.Tests.TensorServing;

/// <summary>
/// A classified call's labels come from the version's resolution the calls themselves use (cached), not from a
/// catalog read per call; an invalidation (a registry change) makes the next call see the new ones.
/// </summary>
public sealed class ModelManagerLabelTests
{
    [Fact]
    public async Task Labels_are_kept_with_the_resolution_and_refreshed_when_resolutions_are_invalidated()
    {
        var catalog = new CountingCatalog();
        catalog.Inner.Models.Add(Servable(["cat", "dog"]));
        await using var manager = new ModelManager(catalog, [], new ModelManagerOptions { ResolveCacheTime = TimeSpan.FromHours(1) });

        for (var i = 0; i < 5; i++)
        {
            var labels = await manager.LabelsAsync("m", "1", CancellationToken.None);
            Assert.Equal(["cat", "dog"], labels!["scores"]);
        }

        Assert.Equal(1, catalog.Resolves);

        catalog.Inner.Models[0] = Servable(["no", "yes"]);
        manager.InvalidateResolutions();
        Assert.Equal(["no", "yes"], (await manager.LabelsAsync("m", "1", CancellationToken.None))!["scores"]);
        Assert.Equal(2, catalog.Resolves);

        // A version gone since it answered has none.
        Assert.Null(await manager.LabelsAsync("m", "2", CancellationToken.None));
    }

    private static ServableModel Servable(string[] labels) => new()
    {
        Name = "m",
        Version = 1,
        Format = ModelFormat.Onnx,
        Scheduler = new SchedulerOptions(),
        Labels = new Dictionary<string, IReadOnlyList<string>> { ["scores"] = labels },
    };

    private sealed class CountingCatalog : IServableModelCatalog
    {
        public ListCatalog Inner { get; } = new();

        public int Resolves { get; private set; }

        public ValueTask<ServableModel> ResolveAsync(string model, string? version, CancellationToken cancellationToken)
        {
            Resolves++;
            return Inner.ResolveAsync(model, version, cancellationToken);
        }

        public ValueTask<IReadOnlyList<ServableModel>> ListAsync(CancellationToken cancellationToken) => Inner.ListAsync(cancellationToken);

        public ValueTask<IReadOnlyList<int>> VersionsAsync(string name, CancellationToken cancellationToken) => Inner.VersionsAsync(name, cancellationToken);

        public ValueTask<string> GetArtifactPathAsync(ServableModel model, CancellationToken cancellationToken) => Inner.GetArtifactPathAsync(model, cancellationToken);
    }
}
