namespace Maas.Core.Tenancy;

/// <summary>How usage rows are bucketed.</summary>
public enum UsageGrouping
{
    /// <summary>One row per tenant, key, model over the whole range.</summary>
    None,

    /// <summary>Per UTC hour.</summary>
    Hour,

    /// <summary>Per UTC day.</summary>
    Day,
}
