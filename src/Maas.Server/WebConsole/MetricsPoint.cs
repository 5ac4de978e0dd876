namespace Maas.Server.WebConsole;

/// <summary>One point of the history: when, the whole server, and each model seen in that interval.</summary>
public sealed record MetricsPoint(DateTimeOffset At, MetricsStats Server, IReadOnlyDictionary<string, MetricsStats> Models);
