using Maas.Core.Deployments;
using Maas.Core.Registry;
using Maas.Storage.Deployments;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>Deployments on a real database: atomic compare-and-set changes, history rows and the change counter.</summary>
public sealed class DeploymentStoreTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_000);

    private static Deployment Sample(string name = "faces", string model = "acme/faces") => new()
    {
        Tenant = "acme",
        Name = name,
        Model = model,
        Traffic = [new TrafficShare(1, 90), new TrafficShare(2, 10)],
        Shadow = [new ShadowTarget(3)],
        Sticky = new StickyRouting { Header = "X-User" },
        Plan = new RolloutPlan { Steps = [10, 50, 100], DwellSeconds = 30, MaxErrorRate = 0.05 },
        Stable = 1,
        Canary = 2,
        CreatedBy = "tests",
        CreatedAt = Now,
        UpdatedAt = Now,
        StepStartedAt = Now,
    };

    private static DeploymentEvent Event(string action, string? reason = null) => new() { At = Now, Actor = "tests", Action = action, Reason = reason };

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_deployment_round_trips_and_each_change_is_one_compare_and_set_with_history(Db db)
    {
        await using var database = await StorageDatabase.CreateAsync(db);
        await database.StoreAsync(); // migrates
        var store = new SqlDeploymentStore(database.Dialect());
        var counter = await store.ChangeCounterAsync(CancellationToken.None);

        var created = await store.CreateAsync(Sample(), Event("create"), CancellationToken.None);
        Assert.Equal(1, created.Revision);
        var read = await store.GetAsync("acme", "faces", CancellationToken.None);
        Assert.NotNull(read);
        Assert.Equal([new TrafficShare(1, 90), new TrafficShare(2, 10)], read.Traffic);
        Assert.Equal("X-User", read.Sticky!.Header);
        Assert.Equal([10, 50, 100], read.Plan!.Steps);
        Assert.Equal(DeploymentState.Active, read.State);
        Assert.True(await store.ChangeCounterAsync(CancellationToken.None) > counter);

        // One per name and one per model.
        var again = await Assert.ThrowsAsync<RegistryException>(() => store.CreateAsync(Sample(), Event("create"), CancellationToken.None));
        Assert.Equal("deployment_exists", again.Code);
        var sameModel = await Assert.ThrowsAsync<RegistryException>(() => store.CreateAsync(Sample("other"), Event("create"), CancellationToken.None));
        Assert.Equal("deployment_exists", sameModel.Code);

        // Eight writers start from the same revision: exactly one wins, the others hear "changed meanwhile".
        var stores = Enumerable.Range(0, 8).Select(_ => new SqlDeploymentStore(database.Dialect())).ToArray();
        var outcomes = await Task.WhenAll(stores.Select((s, i) => Task.Run(async () =>
        {
            try
            {
                await s.UpdateAsync(read with { State = DeploymentState.RolledBack, Traffic = [new TrafficShare(1, 100)], Reason = $"writer {i}" }, 1,
                    Event("rollback", $"writer {i}"), CancellationToken.None);
                return true;
            }
            catch (RegistryException e) when (e.Code == "deployment_changed")
            {
                return false;
            }
        })));
        Assert.Single(outcomes, true);

        var after = await store.GetAsync("acme", "faces", CancellationToken.None);
        Assert.Equal(2, after!.Revision);
        Assert.Equal(DeploymentState.RolledBack, after.State);
        var history = await store.HistoryAsync("acme", "faces", 10, CancellationToken.None);
        Assert.Equal(["rollback", "create"], history.Select(h => h.Action));
        Assert.Equal(DeploymentState.RolledBack, history[0].State);
        Assert.Equal(after.Reason, history[0].Reason);
        Assert.Equal([new TrafficShare(1, 100)], history[0].Traffic);

        Assert.Single(await store.ListAsync("acme", CancellationToken.None));
        Assert.Empty(await store.ListAsync("beta", CancellationToken.None));
        Assert.True(await store.DeleteAsync("acme", "faces", CancellationToken.None));
        Assert.False(await store.DeleteAsync("acme", "faces", CancellationToken.None));
        Assert.Empty(await store.HistoryAsync("acme", "faces", 10, CancellationToken.None));
        var missing = await Assert.ThrowsAsync<RegistryException>(() => store.UpdateAsync(read, 2, Event("update"), CancellationToken.None));
        Assert.Equal("deployment_not_found", missing.Code);
    }
}
