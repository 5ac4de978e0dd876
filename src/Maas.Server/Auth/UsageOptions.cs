using System.ComponentModel.DataAnnotations;

namespace Maas.Server.Auth;

/// <summary>Usage metering settings, bound from "Maas:Usage".</summary>
public sealed class UsageOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Usage";

    /// <summary>How long the writer waits to fill a batch after the first record, in ms.</summary>
    [Range(0, 60_000)]
    public int FlushMs { get; set; } = 200;

    /// <summary>The most records written in one transaction.</summary>
    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 1000;

    /// <summary>Records that may wait for the writer; beyond that (a database down for long) new ones are dropped and counted.</summary>
    [Range(1_000, 100_000_000)]
    public int QueueCapacity { get; set; } = 1_000_000;

    /// <summary>How often keys' last-used times are written, in seconds.</summary>
    [Range(0.1, 3_600)]
    public double LastUsedFlushSeconds { get; set; } = 10;

    /// <summary>
    /// Also count requests, tokens and compute per tenant in /metrics (a <c>tenant</c> label). Off by default: every
    /// tenant adds series, so turn it on only where tenants are few.
    /// </summary>
    public bool TenantMetrics { get; set; }
}
