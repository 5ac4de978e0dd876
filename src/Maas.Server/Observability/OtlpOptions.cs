using System.Globalization;

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

    /// <summary>The problems of these settings, one line each naming its key (none when export is off).</summary>
    public IReadOnlyList<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(Endpoint))
        {
            return [];
        }

        var problems = new List<string>();
        if (!Uri.TryCreate(Endpoint, UriKind.Absolute, out var endpoint) || endpoint.Scheme is not ("http" or "https"))
        {
            problems.Add($"{Section}:{nameof(Endpoint)} must be an absolute http:// or https:// URL of a collector, not '{Endpoint}'");
        }

        if (Protocol is not ("grpc" or "http/protobuf"))
        {
            problems.Add($"{Section}:{nameof(Protocol)} must be grpc or http/protobuf, not '{Protocol}'");
        }

        if (string.IsNullOrWhiteSpace(ServiceName))
        {
            problems.Add($"{Section}:{nameof(ServiceName)} must not be empty");
        }

        const double maxSeconds = 86_400;
        if (!(MetricIntervalSeconds is >= 0.1 and <= maxSeconds))
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture,
                $"{Section}:{nameof(MetricIntervalSeconds)} must be between 0.1 and {maxSeconds} seconds, not {MetricIntervalSeconds}"));
        }

        return problems;
    }
}
