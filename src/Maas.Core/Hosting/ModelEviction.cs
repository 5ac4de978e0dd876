namespace Maas.Core.Hosting;

/// <summary>A loaded model the host evicted to make room for another.</summary>
/// <param name="Key">The evicted version.</param>
/// <param name="Engine">Its engine.</param>
/// <param name="Cause"><c>memory_budget</c> (the server's budget) or <c>memory_quota</c> (its tenant's quota).</param>
/// <param name="AccountedBytes">What it was charged while loaded.</param>
public sealed record ModelEviction(ModelKey Key, string Engine, string Cause, long AccountedBytes);
