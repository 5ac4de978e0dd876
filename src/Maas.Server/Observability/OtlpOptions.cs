namespace Maas.Server.Observability;

/// <summary>OTLP export of traces and metrics; off unless an endpoint is set.</summary>
public sealed class OtlpOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Otlp";

    /// <summary>The collector address, e.g. http://127.0.0.1:4317 (gRPC) or http://127.0.0.1:4318 (HTTP). Empty: no export.</summary>
    public string? Endpoint { get; set; }

    /// <summary>"grpc" or "http/protobuf".</summary>
    public string Protocol { get; set; } = "grpc";

    /// <summary>The service.name resource attribute.</summary>
    public string ServiceName { get; set; } = "maas";

    /// <summary>Metric export interval in seconds.</summary>
    public double MetricIntervalSeconds { get; set; } = 15;
}
