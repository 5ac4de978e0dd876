using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Maas.Core.Observability;

/// <summary>The names MaaS records telemetry under: one ActivitySource, and meters named "Maas" made per app by IMeterFactory.</summary>
public static class MaasTelemetry
{
    /// <summary>The name of both the ActivitySource and the Meter.</summary>
    public const string Name = "Maas";

    /// <summary>Spans: request, queue, batch, engine run, encode.</summary>
    public static readonly ActivitySource Source = new(Name);

    /// <summary>A process-wide meter for instruments recorded on hot paths (LLM token timings).</summary>
    public static readonly Meter Meter = new(Name);
}
