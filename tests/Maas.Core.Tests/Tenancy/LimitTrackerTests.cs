using Maas.Core.Tenancy;

namespace Maas.Core.Tests.Tenancy;

public sealed class LimitTrackerTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 31, 23, 59, 0, TimeSpan.Zero);

    private readonly ManualClock _clock = new(Start);

    private LimitTracker Tracker() => new(_clock, TimeSpan.FromSeconds(60));

    [Fact]
    public void Requests_per_window_are_refused_then_reset_with_the_window()
    {
        var tracker = Tracker();
        var key = tracker.ForKey("k");
        var tenant = tracker.ForTenant("t");
        var limits = new UsageLimits { RequestsPerMinute = 3 };
        for (var i = 0; i < 3; i++)
        {
            var ok = tracker.TryAdmit(key, limits, tenant, UsageLimits.None);
            Assert.True(ok.Admitted);
            Assert.Equal(3 - i - 1, ok.Requests!.Value.Remaining);
            LimitTracker.Release(key, tenant);
        }

        var refused = tracker.TryAdmit(key, limits, tenant, UsageLimits.None);
        Assert.False(refused.Admitted);
        Assert.Equal(LimitKind.RequestsPerMinute, refused.Rejection!.Kind);
        Assert.Equal("key", refused.Rejection.Scope);
        Assert.Equal(3, refused.Rejection.Value);
        Assert.Equal(Start.AddSeconds(60), refused.Rejection.ResetAt); // windows start on whole multiples of their length

        _clock.Advance(TimeSpan.FromSeconds(60));
        Assert.True(tracker.TryAdmit(key, limits, tenant, UsageLimits.None).Admitted);
    }

    [Fact]
    public void A_tenant_limit_spans_its_keys_and_a_refusal_counts_nothing()
    {
        var tracker = Tracker();
        var tenant = tracker.ForTenant("t");
        var tenantLimits = new UsageLimits { RequestsPerMinute = 2 };
        Assert.True(tracker.TryAdmit(tracker.ForKey("a"), UsageLimits.None, tenant, tenantLimits).Admitted);
        Assert.True(tracker.TryAdmit(tracker.ForKey("b"), UsageLimits.None, tenant, tenantLimits).Admitted);
        var refused = tracker.TryAdmit(tracker.ForKey("c"), UsageLimits.None, tenant, tenantLimits);
        Assert.Equal("tenant", refused.Rejection!.Scope);

        // Key "c" was refused by its tenant: its own count did not move.
        var cLimits = new UsageLimits { RequestsPerMinute = 1 };
        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.True(tracker.TryAdmit(tracker.ForKey("c"), cLimits, tenant, tenantLimits).Admitted);
    }

    [Fact]
    public void Concurrency_counts_running_requests_until_released()
    {
        var tracker = Tracker();
        var key = tracker.ForKey("k");
        var tenant = tracker.ForTenant("t");
        var limits = new UsageLimits { ConcurrentRequests = 2 };
        Assert.True(tracker.TryAdmit(key, limits, tenant, UsageLimits.None).Admitted);
        Assert.True(tracker.TryAdmit(key, limits, tenant, UsageLimits.None).Admitted);
        var refused = tracker.TryAdmit(key, limits, tenant, UsageLimits.None);
        Assert.Equal(LimitKind.ConcurrentRequests, refused.Rejection!.Kind);
        Assert.Null(refused.Rejection.ResetAt);
        LimitTracker.Release(key, tenant);
        Assert.Equal(1, key.Running);
        Assert.True(tracker.TryAdmit(key, limits, tenant, UsageLimits.None).Admitted);
    }

    [Fact]
    public void Tokens_per_window_count_reported_tokens()
    {
        var tracker = Tracker();
        var key = tracker.ForKey("k");
        var tenant = tracker.ForTenant("t");
        var limits = new UsageLimits { TokensPerMinute = 100 };
        Assert.True(tracker.TryAdmit(key, limits, tenant, UsageLimits.None).Admitted);
        tracker.AddPending(key, tenant, 60, 0);
        var ok = tracker.TryAdmit(key, limits, tenant, UsageLimits.None);
        Assert.Equal(40, ok.Tokens!.Value.Remaining);
        tracker.AddPending(key, tenant, 50, 0);
        var refused = tracker.TryAdmit(key, limits, tenant, UsageLimits.None);
        Assert.Equal(LimitKind.TokensPerMinute, refused.Rejection!.Kind);
        Assert.Equal(110, refused.Rejection.Used);
        _clock.Advance(TimeSpan.FromSeconds(61));
        Assert.True(tracker.TryAdmit(key, limits, tenant, UsageLimits.None).Admitted);
    }

    [Fact]
    public void Daily_budget_counts_seed_written_and_pending_once_each_and_resets_at_midnight()
    {
        var tracker = Tracker();
        var key = tracker.ForKey("k");
        var tenant = tracker.ForTenant("t");
        var limits = new UsageLimits { DailyTokens = 100, MonthlyComputeSeconds = 10 };
        Assert.True(tracker.NeedsSeed(key, limits));
        var (day, month) = LimitTracker.PeriodStarts(_clock.GetUtcNow());
        tracker.Seed(key, new PeriodUsage(DayTokens: 70, DayComputeMs: 0, MonthTokens: 500, MonthComputeMs: 2_000), day, month);
        Assert.False(tracker.NeedsSeed(key, limits));

        tracker.AddPending(key, tenant, 20, 1_000);
        Assert.True(tracker.TryAdmit(key, limits, tenant, UsageLimits.None).Admitted);

        // Written: the 20 tokens move from pending to written, still counted once.
        tracker.MarkWritten("k", "t", 20, 1_000, _clock.GetUtcNow());
        Assert.True(tracker.TryAdmit(key, limits, tenant, UsageLimits.None).Admitted);
        tracker.AddPending(key, tenant, 10, 0);
        var refused = tracker.TryAdmit(key, limits, tenant, UsageLimits.None);
        Assert.Equal(LimitKind.DailyTokens, refused.Rejection!.Kind);
        Assert.Equal(100, refused.Rejection.Used);
        Assert.Equal(new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero), refused.Rejection.ResetAt);

        // Midnight (also a new month here): the period starts over and wants a fresh seed from the database.
        _clock.Advance(TimeSpan.FromMinutes(2));
        Assert.True(tracker.NeedsSeed(key, limits));
        (day, month) = LimitTracker.PeriodStarts(_clock.GetUtcNow());
        tracker.Seed(key, new PeriodUsage(0, 0, 0, 0), day, month);
        tracker.MarkWritten("k", "t", 10, 0, Start); // yesterday's pending record lands: not counted in the new day
        Assert.True(tracker.TryAdmit(key, limits, tenant, UsageLimits.None).Admitted);
    }

    [Fact]
    public void Monthly_compute_budget_refuses_until_next_month()
    {
        var tracker = Tracker();
        var key = tracker.ForKey("k");
        var tenant = tracker.ForTenant("t");
        var limits = new UsageLimits { MonthlyComputeSeconds = 2 };
        var (day, month) = LimitTracker.PeriodStarts(_clock.GetUtcNow());
        tracker.Seed(key, new PeriodUsage(0, 0, 0, 1_500), day, month);
        tracker.AddPending(key, tenant, 0, 600);
        var refused = tracker.TryAdmit(key, limits, tenant, UsageLimits.None);
        Assert.Equal(LimitKind.MonthlyComputeSeconds, refused.Rejection!.Kind);
        Assert.Equal(new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero), refused.Rejection.ResetAt);
    }
}
