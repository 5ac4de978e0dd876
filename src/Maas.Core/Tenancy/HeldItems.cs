namespace Maas.Core.Tenancy;

/// <summary>One kind of thing a tenant owns: how many, and the first few names (<see cref="TenantHoldings.NamesShown"/>).</summary>
public sealed record HeldItems(long Count, IReadOnlyList<string> Names)
{
    /// <summary>Nothing of this kind.</summary>
    public static HeldItems None { get; } = new(0, []);
}
