using System.Diagnostics;
using System.Diagnostics.Metrics;
using Maas.Server.Observability;
using Maas.Testing;

namespace Maas.Server.Tests.Observability;

public class PrometheusExporterTests
{
    [Fact]
    public void CountersHistogramsAndGaugesAreRenderedWithTheirLabels()
    {
        var meterName = "Maas.Test." + Guid.NewGuid().ToString("N");
        using var exporter = new PrometheusExporter(m => m.Name == meterName);
        using var meter = new Meter(meterName);
        var requests = meter.CreateCounter<long>("maas.test.requests", description: "Requests served.");
        var latency = meter.CreateHistogram<double>("maas.test.latency", unit: "s");
        var depth = meter.CreateUpDownCounter<int>("maas.test.queue.depth");
        var observed = 7;
        meter.CreateObservableGauge("maas.test.loaded", () => observed);

        requests.Add(2, new KeyValuePair<string, object?>("model", "a"), new KeyValuePair<string, object?>("status", "200"));
        requests.Add(3, new KeyValuePair<string, object?>("status", "200"), new KeyValuePair<string, object?>("model", "a"));
        requests.Add(1, new KeyValuePair<string, object?>("model", "b\"x"));
        latency.Record(0.003);
        latency.Record(0.2);
        latency.Record(100);
        depth.Add(5);
        depth.Add(-2);

        var text = exporter.Scrape();

        Assert.Contains("# TYPE maas_test_requests_total counter", text);
        Assert.Contains("maas_test_requests_total{model=\"a\",status=\"200\"} 5\n", text);
        Assert.Contains("maas_test_requests_total{model=\"b\\\"x\"} 1\n", text);
        Assert.Contains("# TYPE maas_test_latency_seconds histogram", text);
        Assert.Contains("maas_test_latency_seconds_bucket{le=\"0.005\"} 1\n", text);
        Assert.Contains("maas_test_latency_seconds_bucket{le=\"0.25\"} 2\n", text);
        Assert.Contains("maas_test_latency_seconds_bucket{le=\"+Inf\"} 3\n", text);
        Assert.Contains("maas_test_latency_seconds_count 3\n", text);
        Assert.Contains("maas_test_latency_seconds_sum 100.203", text);
        Assert.Contains("maas_test_queue_depth 3\n", text);
        Assert.Contains("maas_test_loaded 7\n", text);

        observed = 9;
        Assert.Contains("maas_test_loaded 9\n", exporter.Scrape());
    }

    [Fact]
    public void A_metric_keeps_at_most_its_series_cap_and_folds_the_rest_into_one_overflow_series()
    {
        var meterName = "Maas.Test." + Guid.NewGuid().ToString("N");
        using var exporter = new PrometheusExporter(m => m.Name == meterName, maxSeriesPerMetric: 10);
        using var meter = new Meter(meterName);
        var requests = meter.CreateCounter<long>("maas.test.capped");
        for (var i = 0; i < 1000; i++)
        {
            requests.Add(1, new KeyValuePair<string, object?>("model", "m" + i));
        }

        requests.Add(5, new KeyValuePair<string, object?>("model", "m3")); // a kept series still counts
        var samples = exporter.Scrape().Split('\n').Where(l => l.StartsWith("maas_test_capped_total", StringComparison.Ordinal)).ToList();

        Assert.Equal(11, samples.Count);
        Assert.Contains("maas_test_capped_total{model=\"m3\"} 6", samples);
        Assert.Contains("maas_test_capped_total{otel_metric_overflow=\"true\"} 990", samples);
    }

    [Theory]
    [InlineData("maas.requests", null, true, false, "maas_requests_total")]
    [InlineData("maas.request.duration", "s", false, true, "maas_request_duration_seconds")]
    [InlineData("dotnet.assembly.count", "{assembly}", false, false, "dotnet_assembly_count_current")]
    [InlineData("maas.memory", "By", false, false, "maas_memory_bytes")]
    public void NamesFollowPrometheusConventions(string name, string? unit, bool counter, bool histogram, string expected) =>
        Assert.Equal(expected, PrometheusExporter.MetricNameOf(name, unit, counter, histogram));

    [ToolFact("/usr/bin/promtool", "Debian package prometheus")]
    public void PromtoolAcceptsTheOutput()
    {
        using var exporter = new PrometheusExporter(m => ObservabilityExtensions.IsExportedMeter(m.Name));
        using var meter = new Meter("Maas.Test.Promtool");
        meter.CreateCounter<long>("maas.test.promtool.requests").Add(1, new KeyValuePair<string, object?>("model", "m"));
        meter.CreateHistogram<double>("maas.test.promtool.latency", unit: "s").Record(0.01);
        var text = exporter.Scrape();

        var check = Process.Start(new ProcessStartInfo("/usr/bin/promtool", "check metrics")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        check.StandardInput.Write(text);
        check.StandardInput.Close();
        var problems = check.StandardOutput.ReadToEnd() + check.StandardError.ReadToEnd();
        check.WaitForExit();
        Assert.True(check.ExitCode == 0, problems);
    }
}
