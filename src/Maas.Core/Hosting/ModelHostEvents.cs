namespace Maas.Core.Hosting;

/// <summary>A loaded model the host evicted to make room for another.</summary>
/// <param name="Key">The evicted version.</param>
/// <param name="Engine">Its engine.</param>
/// <param name="Cause"><c>memory_budget</c> (the server's budget) or <c>memory_quota</c> (its tenant's quota).</param>
/// <param name="AccountedBytes">What it was charged while loaded.</param>
public sealed record ModelEviction(ModelKey Key, string Engine, string Cause, long AccountedBytes);

/// <summary>How long a request waited for its model to load.</summary>
/// <param name="Key">The version it waited for.</param>
/// <param name="Engine">Its engine.</param>
/// <param name="Duration">From the start of the wait to its end.</param>
/// <param name="Outcome"><c>loaded</c>, <c>failed</c> or <c>timeout</c> (the wait limit passed).</param>
public sealed record ModelLoadWait(ModelKey Key, string Engine, TimeSpan Duration, string Outcome);
