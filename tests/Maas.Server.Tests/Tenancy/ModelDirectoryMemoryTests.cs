using Maas.Core.Registry;
using Maas.Server.Auth;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Tenancy;

/// <summary>The model directory's cache does not keep the names callers asked once (models that do not exist) past their time.</summary>
public sealed class ModelDirectoryMemoryTests
{
    [Fact]
    public async Task Expired_entries_of_names_asked_once_are_swept_as_new_names_come()
    {
        await using var host = await TenancyHost.StartAsync();
        var directory = host.Server.Services.GetRequiredService<ModelDirectory>();

        var gone = Enumerable.Range(0, 3000).Select(i => ModelKeys.Of("prober", $"gone-{i}")).ToArray();
        foreach (var key in gone)
        {
            Assert.Null(await directory.FindAsync(key, CancellationToken.None));
        }

        // Well past Maas:Auth:ModelCacheMs: every entry above has expired, and the next names asked sweep them out.
        host.Clock.Advance(TimeSpan.FromHours(1));
        foreach (var i in Enumerable.Range(0, 3000))
        {
            Assert.Null(await directory.FindAsync(ModelKeys.Of("prober", $"new-{i}"), CancellationToken.None));
        }

        Assert.DoesNotContain(gone, directory.Caches);
        Assert.InRange(directory.CachedEntries, 1, 3000);
    }
}
