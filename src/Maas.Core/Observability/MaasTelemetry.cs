using System.Diagnostics;

namespace Maas.Core.Observability;

/// <summary>The names MaaS records telemetry under: one ActivitySource, and meters named "Maas" made per app by IMeterFactory.</summary>
public static class MaasTelemetry
{
    /// <summary>The name of both the ActivitySource and the Meter.</summary>
    public const string Name = "Maas";

    /// <summary>Spans: queue, batch, engine run, encode and gen-AI, children of ASP.NET Core's request span.</summary>
    /// <remarks>
    /// One process-wide source (ActivitySource has no per-app scope); each app decides with Maas:Observability:Tracing
    /// whether it makes spans at all. Metrics have no static meter: each app uses its IMeterFactory's "Maas" meter.
    /// </remarks>
    public static readonly ActivitySource Source = new(Name);
}
