namespace Maas.Core.Tenancy;

/// <summary>A usage query: every given filter must match; the time range is [From, To).</summary>
public sealed record UsageQuery
{
    /// <summary>Only this tenant.</summary>
    public string? Tenant { get; init; }

    /// <summary>Only this key id.</summary>
    public string? KeyId { get; init; }

    /// <summary>Only this model, spelled as given.</summary>
    public string? Model { get; init; }

    /// <summary>Only this model, in any spelling usage rows give it (see <see cref="UsageModelMatch"/>).</summary>
    public UsageModelMatch? ModelMatch { get; init; }

    /// <summary>From (inclusive).</summary>
    public DateTimeOffset? From { get; init; }

    /// <summary>To (exclusive).</summary>
    public DateTimeOffset? To { get; init; }

    /// <summary>The bucketing.</summary>
    public UsageGrouping GroupBy { get; init; }

    /// <summary>The most rows returned.</summary>
    public int Limit { get; init; } = 10_000;

    /// <summary>
    /// When set, only the rows it keeps are returned (and counted against <see cref="Limit"/>): how a key limited to
    /// some models is narrowed to them, its patterns being globs the database cannot match.
    /// </summary>
    public Func<UsageRow, bool>? Keep { get; init; }
}
