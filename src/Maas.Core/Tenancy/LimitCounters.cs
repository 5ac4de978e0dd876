namespace Maas.Core.Tenancy;

/// <summary>The live counters of one key or tenant on this node.</summary>
public sealed class LimitCounters
{
    internal readonly Lock Gate = new();
    internal long WindowStart;
    internal long Requests;
    internal long Tokens;
    internal int Concurrent;
    internal long DayStart;
    internal long MonthStart;
    internal bool Seeded;
    internal long SeedDayTokens;
    internal long SeedMonthTokens;
    internal double SeedDayComputeMs;
    internal double SeedMonthComputeMs;
    internal long WrittenDayTokens;
    internal long WrittenMonthTokens;
    internal double WrittenDayComputeMs;
    internal double WrittenMonthComputeMs;
    internal long PendingTokens;
    internal double PendingComputeMs;

    // When the counters were last handed out or counted into (Unix ms), for LimitTracker.Sweep.
    internal long LastUsedMs;

    /// <summary>Requests running now (for tests and diagnostics).</summary>
    public int Running
    {
        get
        {
            lock (Gate)
            {
                return Concurrent;
            }
        }
    }
}
