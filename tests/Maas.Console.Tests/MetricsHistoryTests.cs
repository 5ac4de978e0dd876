using System.Diagnostics.Metrics;
using Maas.Core.Observability;
using Maas.Server.Observability;
using Maas.Server.WebConsole;
using Microsoft.Extensions.Options;

namespace Maas.Console.Tests;

/// <summary>The console's metrics sampler over a real exporter: rates and percentiles from two scrapes.</summary>
public sealed class MetricsHistoryTests
{
    [Fact]
    public void Two_samples_give_a_rate_and_percentiles_per_model_and_for_the_server()
    {
        using var meter = new Meter("Maas.HistoryTest." + Guid.NewGuid().ToString("N"));
        using var exporter = new PrometheusExporter(m => m == meter);
        var duration = meter.CreateHistogram("maas.request.duration", "s", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = ServingTelemetry.LatencyBuckets });
        var tokens = meter.CreateCounter<long>("maas.llm.generated_tokens", "{token}");
        // Two loaded versions of "slow": its memory is their accounted bytes together (other kinds are not summed in).
        meter.CreateObservableGauge("maas.model.memory", () => new[]
        {
            new Measurement<long>(3_000_000, new("model", "slow"), new("version", "1"), new("kind", "accounted")),
            new Measurement<long>(1_000_000, new("model", "slow"), new("version", "2"), new("kind", "accounted")),
            new Measurement<long>(9_000_000, new("model", "slow"), new("version", "1"), new("kind", "mapped_file")),
        }, "By");
        var history = new MetricsHistory(TimeProvider.System, Options.Create(new ConsoleOptions { SampleSeconds = 1, HistorySeconds = 60 }), exporter);

        history.Sample();
        Assert.Empty(history.Points()); // the first scrape is only the baseline
        for (var i = 0; i < 90; i++)
        {
            duration.Record(0.002, new KeyValuePair<string, object?>("model", "fast"));
        }

        for (var i = 0; i < 10; i++)
        {
            duration.Record(0.8, new KeyValuePair<string, object?>("model", "slow"));
        }

        tokens.Add(40, new KeyValuePair<string, object?>("model", "slow"));
        history.Sample();

        var point = Assert.Single(history.Points());
        var fast = point.Models["fast"];
        var slow = point.Models["slow"];
        Assert.True(fast.RequestsPerSecond > 0 && Math.Abs((fast.RequestsPerSecond / slow.RequestsPerSecond) - 9) < 1e-6, $"{fast.RequestsPerSecond} vs {slow.RequestsPerSecond}");
        Assert.InRange(fast.LatencyP50Ms!.Value, 1, 2.5); // inside the 1-2.5 ms bucket
        Assert.InRange(slow.LatencyP99Ms!.Value, 500, 1000);
        Assert.True(slow.TokensPerSecond > 0);
        Assert.Equal(0, fast.TokensPerSecond);
        Assert.InRange(point.Server.LatencyP50Ms!.Value, 1, 2.5); // 90% of the server's requests are fast
        Assert.InRange(point.Server.LatencyP99Ms!.Value, 500, 1000);
        Assert.True(point.Server.MemoryBytes > 0);
        Assert.Equal(4_000_000, slow.MemoryBytes);
        Assert.Null(fast.MemoryBytes); // not loaded: no memory series

        history.Sample(); // nothing new: no requests in this interval, so no percentile
        var idle = history.Points()[^1];
        Assert.Equal(0, idle.Models["fast"].RequestsPerSecond);
        Assert.Null(idle.Models["fast"].LatencyP50Ms);
    }

    [Fact]
    public void The_ring_keeps_only_the_configured_history()
    {
        using var meter = new Meter("Maas.HistoryTest." + Guid.NewGuid().ToString("N"));
        using var exporter = new PrometheusExporter(m => m == meter);
        var history = new MetricsHistory(TimeProvider.System, Options.Create(new ConsoleOptions { SampleSeconds = 10, HistorySeconds = 60 }), exporter);
        for (var i = 0; i < 10; i++)
        {
            history.Sample();
            Thread.SpinWait(1000); // the clock must move between two samples
        }

        var points = history.Points();
        Assert.InRange(points.Count, 1, 6); // 60 s / 10 s
        Assert.True(points.Zip(points.Skip(1)).All(p => p.First.At <= p.Second.At), "points are oldest first");
    }

    [Theory]
    [InlineData("maas_x_total{model=\"a\\\"b\",le=\"+Inf\"} 12 1700000000", "a\"b", 12)]
    [InlineData("maas_x_total 3.5e2", "", 350)]
    public void Reads_the_exposition_format(string line, string model, double value)
    {
        var sample = Assert.Single(PrometheusText.Parse("# HELP maas_x_total x\n# TYPE maas_x_total counter\n" + line + "\n", _ => true));
        Assert.Equal("maas_x_total", sample.Name);
        Assert.Equal(model, sample.Label("model"));
        Assert.Equal(value, sample.Value);
    }
}
