using System.Collections.Concurrent;

namespace Maas.Core.Tenancy;

/// <summary>
/// Per-key and per-tenant limits on this node: fixed rate windows (requests, tokens), a concurrency count, and daily
/// and monthly budgets that start from the database's total for the period and add what this node served.
/// </summary>
/// <remarks>
/// Budget arithmetic: used = seed (the database total when last seeded) + written (what this node wrote since) +
/// pending (recorded, not yet written). Seeding and writing happen on the usage writer's single loop, so a record
/// is never counted twice or lost between the two. Windows and concurrency are per node.
/// </remarks>
public sealed class LimitTracker(TimeProvider time, TimeSpan window)
{
    private readonly ConcurrentDictionary<string, LimitCounters> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, LimitCounters> _tenants = new(StringComparer.Ordinal);
    private readonly long _windowMs = Math.Max(1, (long)window.TotalMilliseconds);

    /// <summary>The rate window.</summary>
    public TimeSpan Window => TimeSpan.FromMilliseconds(_windowMs);

    /// <summary>The clock.</summary>
    public TimeProvider Time => time;

    /// <summary>The counters of a key.</summary>
    public LimitCounters ForKey(string keyId) => Touch(_keys.GetOrAdd(keyId, static _ => new LimitCounters()));

    /// <summary>The counters of a tenant.</summary>
    public LimitCounters ForTenant(string tenant) => Touch(_tenants.GetOrAdd(tenant, static _ => new LimitCounters()));

    /// <summary>Keys with counters on this node now (tests check that it returns to its start).</summary>
    internal int KeyCount => _keys.Count;

    /// <summary>Tenants with counters on this node now.</summary>
    internal int TenantCount => _tenants.Count;

    /// <summary>True when this node holds counters of the key.</summary>
    internal bool HoldsKey(string keyId) => _keys.ContainsKey(keyId);

    /// <summary>True when this node holds counters of the tenant.</summary>
    internal bool HoldsTenant(string tenant) => _tenants.ContainsKey(tenant);

    /// <summary>
    /// Drops the counters of keys and tenants unused for at least <paramref name="idle"/>: nothing running, nothing
    /// pending, and their rate window over, so that what they hold is only what the database holds too (the budgets
    /// are seeded from it again when the key or tenant comes back). Keys that were revoked, deleted or expired and
    /// tenants that went thus stop taking memory. Returns how many went.
    /// </summary>
    /// <remarks>
    /// <paramref name="idle"/> must be longer than anything keeps counters without using them (the key cache's time):
    /// counters handed out again within it are kept. Call from the usage writer's loop (as seeding), not per request.
    /// </remarks>
    public int Sweep(TimeSpan idle)
    {
        var nowMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        var idleMs = Math.Max(_windowMs, (long)idle.TotalMilliseconds);
        return Sweep(_keys, nowMs, idleMs) + Sweep(_tenants, nowMs, idleMs);
    }

    private int Sweep(ConcurrentDictionary<string, LimitCounters> all, long nowMs, long idleMs)
    {
        var removed = 0;
        foreach (var entry in all)
        {
            var c = entry.Value;
            lock (c.Gate)
            {
                // Pending compute is added and taken out again in doubles (a stream's messages): near 0 is 0.
                var unused = c.Concurrent == 0 && c.PendingTokens == 0 && Math.Abs(c.PendingComputeMs) < 0.001 &&
                    nowMs - Volatile.Read(ref c.LastUsedMs) >= idleMs && nowMs >= c.WindowStart + _windowMs;
                if (unused && all.TryRemove(entry))
                {
                    removed++;
                }
            }
        }

        return removed;
    }

    private LimitCounters Touch(LimitCounters counters)
    {
        var nowMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (Volatile.Read(ref counters.LastUsedMs) < nowMs)
        {
            Volatile.Write(ref counters.LastUsedMs, nowMs);
        }

        return counters;
    }

    /// <summary>True when <paramref name="limits"/> has a budget and the counters do not hold this period's total yet.</summary>
    public bool NeedsSeed(LimitCounters counters, UsageLimits limits)
    {
        if (!limits.HasBudget)
        {
            return false;
        }

        var now = time.GetUtcNow();
        lock (counters.Gate)
        {
            RollPeriods(counters, now);
            return !counters.Seeded;
        }
    }

    /// <summary>The current UTC day and month starts.</summary>
    public static (DateTimeOffset Day, DateTimeOffset Month) PeriodStarts(DateTimeOffset now)
    {
        var utc = now.UtcDateTime;
        return (new DateTimeOffset(utc.Date, TimeSpan.Zero), new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero));
    }

    /// <summary>Sets the budget counters to the database's totals for the periods starting at <paramref name="day"/> and <paramref name="month"/>.</summary>
    /// <remarks>Call from the usage writer's loop only (no write may run meanwhile).</remarks>
    public void Seed(LimitCounters counters, PeriodUsage usage, DateTimeOffset day, DateTimeOffset month)
    {
        lock (counters.Gate)
        {
            counters.DayStart = day.ToUnixTimeMilliseconds();
            counters.MonthStart = month.ToUnixTimeMilliseconds();
            counters.SeedDayTokens = usage.DayTokens;
            counters.SeedMonthTokens = usage.MonthTokens;
            counters.SeedDayComputeMs = usage.DayComputeMs;
            counters.SeedMonthComputeMs = usage.MonthComputeMs;
            counters.WrittenDayTokens = counters.WrittenMonthTokens = 0;
            counters.WrittenDayComputeMs = counters.WrittenMonthComputeMs = 0;
            counters.Seeded = true;
        }
    }

    /// <summary>
    /// Admits a request against the key's and the tenant's limits, both or neither: on success each counts one more
    /// request and one more running request (give it back with <see cref="Release"/>).
    /// </summary>
    public Admission TryAdmit(LimitCounters? key, UsageLimits keyLimits, LimitCounters tenant, UsageLimits tenantLimits)
    {
        var now = time.GetUtcNow();
        var nowMs = now.ToUnixTimeMilliseconds();
        if (key is null)
        {
            lock (tenant.Gate)
            {
                return AdmitLocked(null, keyLimits, tenant, tenantLimits, now, nowMs);
            }
        }

        // Always key first, then tenant: the only place that holds two locks, so no deadlock.
        lock (key.Gate)
        {
            lock (tenant.Gate)
            {
                return AdmitLocked(key, keyLimits, tenant, tenantLimits, now, nowMs);
            }
        }
    }

    /// <summary>
    /// Admits one more message of a streaming call that already holds its running-request slot: counts it as a
    /// request against the rate windows and checks the budgets, without taking another slot.
    /// </summary>
    public Admission TryAdmitMessage(LimitCounters? key, UsageLimits keyLimits, LimitCounters tenant, UsageLimits tenantLimits)
    {
        var now = time.GetUtcNow();
        var nowMs = now.ToUnixTimeMilliseconds();
        if (key is null)
        {
            lock (tenant.Gate)
            {
                tenant.Concurrent--;
                var admission = AdmitLocked(null, keyLimits, tenant, tenantLimits, now, nowMs);
                if (!admission.Admitted)
                {
                    tenant.Concurrent++;
                }

                return admission;
            }
        }

        lock (key.Gate)
        {
            lock (tenant.Gate)
            {
                // The call's own slot is given up for the check and taken again by the admission (or given back on refusal).
                key.Concurrent--;
                tenant.Concurrent--;
                var admission = AdmitLocked(key, keyLimits, tenant, tenantLimits, now, nowMs);
                if (!admission.Admitted)
                {
                    key.Concurrent++;
                    tenant.Concurrent++;
                }

                return admission;
            }
        }
    }

    private Admission AdmitLocked(LimitCounters? key, UsageLimits keyLimits, LimitCounters tenant, UsageLimits tenantLimits, DateTimeOffset now, long nowMs)
    {
        tenant.LastUsedMs = nowMs;
        if (key is not null)
        {
            key.LastUsedMs = nowMs;
            Roll(key, now, nowMs);
            if (Check(key, keyLimits, "key", nowMs) is { } rejected)
            {
                return new Admission(rejected, null, null);
            }
        }

        Roll(tenant, now, nowMs);
        if (Check(tenant, tenantLimits, "tenant", nowMs) is { } rejectedTenant)
        {
            return new Admission(rejectedTenant, null, null);
        }

        if (key is not null)
        {
            key.Requests++;
            key.Concurrent++;
        }

        tenant.Requests++;
        tenant.Concurrent++;
        var resetAt = DateTimeOffset.FromUnixTimeMilliseconds(tenant.WindowStart + _windowMs);
        return new Admission(
            null,
            Tightest(key is null ? null : keyLimits.RequestsPerMinute, key?.Requests ?? 0, tenantLimits.RequestsPerMinute, tenant.Requests, resetAt),
            Tightest(key is null ? null : keyLimits.TokensPerMinute, key?.Tokens ?? 0, tenantLimits.TokensPerMinute, tenant.Tokens, resetAt));
    }

    private static WindowStatus? Tightest(long? keyLimit, long keyUsed, long? tenantLimit, long tenantUsed, DateTimeOffset resetAt)
    {
        WindowStatus? best = null;
        if (keyLimit is { } k)
        {
            best = new WindowStatus(k, Math.Max(0, k - keyUsed), resetAt);
        }

        if (tenantLimit is { } t && (best is null || t - tenantUsed < best.Value.Remaining))
        {
            best = new WindowStatus(t, Math.Max(0, t - tenantUsed), resetAt);
        }

        return best;
    }

    private LimitRejection? Check(LimitCounters c, UsageLimits limits, string scope, long nowMs)
    {
        if (limits.IsEmpty)
        {
            return null;
        }

        var windowReset = DateTimeOffset.FromUnixTimeMilliseconds(c.WindowStart + _windowMs);
        if (limits.ConcurrentRequests is { } concurrent && c.Concurrent >= concurrent)
        {
            return new LimitRejection(LimitKind.ConcurrentRequests, scope, concurrent, c.Concurrent, null);
        }

        if (limits.RequestsPerMinute is { } rpm && c.Requests >= rpm)
        {
            return new LimitRejection(LimitKind.RequestsPerMinute, scope, rpm, c.Requests, windowReset);
        }

        if (limits.TokensPerMinute is { } tpm && c.Tokens >= tpm)
        {
            return new LimitRejection(LimitKind.TokensPerMinute, scope, tpm, c.Tokens, windowReset);
        }

        if (!limits.HasBudget)
        {
            return null;
        }

        var nextDay = DateTimeOffset.FromUnixTimeMilliseconds(c.DayStart).AddDays(1);
        var nextMonth = DateTimeOffset.FromUnixTimeMilliseconds(c.MonthStart).AddMonths(1);
        var dayTokens = c.SeedDayTokens + c.WrittenDayTokens + c.PendingTokens;
        var monthTokens = c.SeedMonthTokens + c.WrittenMonthTokens + c.PendingTokens;
        var dayCompute = (c.SeedDayComputeMs + c.WrittenDayComputeMs + c.PendingComputeMs) / 1000;
        var monthCompute = (c.SeedMonthComputeMs + c.WrittenMonthComputeMs + c.PendingComputeMs) / 1000;
        if (limits.DailyTokens is { } dt && dayTokens >= dt)
        {
            return new LimitRejection(LimitKind.DailyTokens, scope, dt, dayTokens, nextDay);
        }

        if (limits.MonthlyTokens is { } mt && monthTokens >= mt)
        {
            return new LimitRejection(LimitKind.MonthlyTokens, scope, mt, monthTokens, nextMonth);
        }

        if (limits.DailyComputeSeconds is { } dc && dayCompute >= dc)
        {
            return new LimitRejection(LimitKind.DailyComputeSeconds, scope, dc, dayCompute, nextDay);
        }

        if (limits.MonthlyComputeSeconds is { } mc && monthCompute >= mc)
        {
            return new LimitRejection(LimitKind.MonthlyComputeSeconds, scope, mc, monthCompute, nextMonth);
        }

        return null;
    }

    private void Roll(LimitCounters c, DateTimeOffset now, long nowMs)
    {
        var windowStart = nowMs - (nowMs % _windowMs);
        if (windowStart != c.WindowStart)
        {
            c.WindowStart = windowStart;
            c.Requests = 0;
            c.Tokens = 0;
        }

        RollPeriods(c, now);
    }

    private static void RollPeriods(LimitCounters c, DateTimeOffset now)
    {
        var (day, month) = PeriodStarts(now);
        var dayMs = day.ToUnixTimeMilliseconds();
        var monthMs = month.ToUnixTimeMilliseconds();
        if (dayMs != c.DayStart)
        {
            // A new day: other nodes may have served in it already, so the next admission reseeds.
            c.DayStart = dayMs;
            c.SeedDayTokens = c.WrittenDayTokens = 0;
            c.SeedDayComputeMs = c.WrittenDayComputeMs = 0;
            c.Seeded = false;
        }

        if (monthMs != c.MonthStart)
        {
            c.MonthStart = monthMs;
            c.SeedMonthTokens = c.WrittenMonthTokens = 0;
            c.SeedMonthComputeMs = c.WrittenMonthComputeMs = 0;
            c.Seeded = false;
        }
    }

    /// <summary>Gives back the running-request slot of an admitted request.</summary>
    public static void Release(LimitCounters? key, LimitCounters tenant)
    {
        if (key is not null)
        {
            lock (key.Gate)
            {
                key.Concurrent--;
            }
        }

        lock (tenant.Gate)
        {
            tenant.Concurrent--;
        }
    }

    /// <summary>Counts a finished request's tokens in the current window and its cost as pending for the budgets.</summary>
    public void AddPending(LimitCounters? key, LimitCounters tenant, long tokens, double computeMs)
    {
        if (tokens == 0 && computeMs == 0)
        {
            return;
        }

        var nowMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (key is not null)
        {
            Add(key, tokens, computeMs, nowMs);
        }

        Add(tenant, tokens, computeMs, nowMs);
    }

    private void Add(LimitCounters c, long tokens, double computeMs, long nowMs)
    {
        lock (c.Gate)
        {
            var windowStart = nowMs - (nowMs % _windowMs);
            if (windowStart != c.WindowStart)
            {
                c.WindowStart = windowStart;
                c.Requests = 0;
                c.Tokens = 0;
            }

            c.LastUsedMs = nowMs;
            c.Tokens += tokens;
            c.PendingTokens += tokens;
            c.PendingComputeMs += computeMs;
        }
    }

    /// <summary>Moves a written record's cost from pending to written (call from the usage writer's loop, after the commit).</summary>
    public void MarkWritten(string? keyId, string tenant, long tokens, double computeMs, DateTimeOffset at) =>
        MarkWritten(keyId is not null && _keys.TryGetValue(keyId, out var key) ? key : null, _tenants.GetValueOrDefault(tenant), tokens, computeMs, at);

    /// <summary>
    /// Moves a written record's cost from pending to written in the counters <see cref="AddPending"/> counted it in
    /// (call from the usage writer's loop, after the commit): exact even when the counters were swept meanwhile.
    /// </summary>
    public static void MarkWritten(LimitCounters? key, LimitCounters? tenant, long tokens, double computeMs, DateTimeOffset at)
    {
        if (tokens == 0 && computeMs == 0)
        {
            return;
        }

        var atMs = at.ToUnixTimeMilliseconds();
        if (key is not null)
        {
            Written(key, tokens, computeMs, atMs);
        }

        if (tenant is not null)
        {
            Written(tenant, tokens, computeMs, atMs);
        }
    }

    private static void Written(LimitCounters c, long tokens, double computeMs, long atMs)
    {
        lock (c.Gate)
        {
            c.PendingTokens -= tokens;
            c.PendingComputeMs -= computeMs;
            if (atMs >= c.DayStart)
            {
                c.WrittenDayTokens += tokens;
                c.WrittenDayComputeMs += computeMs;
            }

            if (atMs >= c.MonthStart)
            {
                c.WrittenMonthTokens += tokens;
                c.WrittenMonthComputeMs += computeMs;
            }
        }
    }

    /// <summary>The keys and tenants whose budgets are seeded (the writer reseeds them now and then, to see other nodes' usage).</summary>
    public IEnumerable<(string? KeyId, string? Tenant, LimitCounters Counters)> Seeded()
    {
        foreach (var (id, c) in _keys)
        {
            if (Volatile.Read(ref c.Seeded))
            {
                yield return (id, null, c);
            }
        }

        foreach (var (name, c) in _tenants)
        {
            if (Volatile.Read(ref c.Seeded))
            {
                yield return (null, name, c);
            }
        }
    }
}
