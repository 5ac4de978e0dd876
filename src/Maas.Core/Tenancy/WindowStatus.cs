namespace Maas.Core.Tenancy;

/// <summary>The window limit closest to running out, for the x-ratelimit-* headers.</summary>
public readonly record struct WindowStatus(long Limit, long Remaining, DateTimeOffset ResetAt);
