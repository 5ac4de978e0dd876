namespace Maas.Server.WebConsole;

/// <summary>Rates, latency percentiles and gauges over one sampling interval: server-wide or for one model.</summary>
public sealed record MetricsStats(
    double RequestsPerSecond,
    double? LatencyP50Ms,
    double? LatencyP95Ms,
    double? LatencyP99Ms,
    double TokensPerSecond,
    double QueueDepth,
    double Loaded,
    double? MemoryBytes);
