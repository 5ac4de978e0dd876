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
    [Range(0, 86_400)]
    public double BudgetSyncSeconds { get; set; } = 30;
}
