namespace Maas.Core.Tenancy;

/// <summary>What a subject used in the current day and month (seeds the budget counters).</summary>
public readonly record struct PeriodUsage(long DayTokens, double DayComputeMs, long MonthTokens, double MonthComputeMs);
