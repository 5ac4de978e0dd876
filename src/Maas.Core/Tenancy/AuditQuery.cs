namespace Maas.Core.Tenancy;

/// <summary>An audit query: every given filter must match; newest first.</summary>
public sealed record AuditQuery
{
    /// <summary>Only this actor.</summary>
    public string? Actor { get; init; }

    /// <summary>Only actors of this tenant.</summary>
    public string? Tenant { get; init; }

    /// <summary>Only actions starting with this text.</summary>
    public string? Action { get; init; }

    /// <summary>From (inclusive).</summary>
    public DateTimeOffset? From { get; init; }

    /// <summary>To (exclusive).</summary>
    public DateTimeOffset? To { get; init; }

    /// <summary>Entries with an id below this (paging backwards).</summary>
    public long? Before { get; init; }

    /// <summary>The most entries returned.</summary>
    public int Limit { get; init; } = 100;
}
