using System.ComponentModel.DataAnnotations;

namespace Maas.Server.Health;

/// <summary>Graceful shutdown: how long readiness reports "stopping" before the listener closes, and how long in-flight work may take.</summary>
public sealed class ShutdownOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Shutdown";

    /// <summary>Seconds between readiness turning false and the listener closing, so load balancers stop sending.</summary>
    [Range(0.0, 300.0)]
    public double DrainSeconds { get; set; } = 2;

    /// <summary>Seconds in-flight requests get to complete after the listener closes.</summary>
    [Range(1.0, 3600.0)]
    public double TimeoutSeconds { get; set; } = 30;
}
