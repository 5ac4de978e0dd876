using System.ComponentModel.DataAnnotations;

namespace Maas.Server.Auth;

/// <summary>Rate limit settings, bound from "Maas:Limits".</summary>
public sealed class LimitsOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Limits";

    /// <summary>The length of the "per minute" rate windows in seconds (shorter in tests).</summary>
    [Range(0.1, 86_400)]
    public double WindowSeconds { get; set; } = 60;

    /// <summary>How often budgets are re-read from the database to include other nodes' usage, in seconds; 0 turns it off.</summary>
    [Range(0.0, 86_400.0)]
    public double BudgetSyncSeconds { get; set; } = 30;

    /// <summary>
    /// How long a key's or tenant's limit counters stay in memory unused before they are dropped (revoked, deleted and
    /// expired keys, deleted tenants, keys not used lately), in seconds; at least twice Maas:Auth:KeyCacheSeconds.
    /// </summary>
    [Range(60.0, 31_536_000.0)]
    public double IdleCounterSeconds { get; set; } = 900;
}
