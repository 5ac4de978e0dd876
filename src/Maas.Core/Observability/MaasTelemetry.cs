using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Maas.Core.Observability;

/// <summary>The one ActivitySource and Meter every MaaS component records spans and metrics through.</summary>
public static class MaasTelemetry
{
    /// <summary>The name of both the ActivitySource and the Meter.</summary>
    public const string Name = "Maas";

    /// <summary>Spans: request, queue, batch, engine run, encode.</summary>
    public static readonly ActivitySource Source = new(Name);

    /// <summary>Every MaaS metric instrument hangs off this meter.</summary>
    public static readonly Meter Meter = new(Name);
}
