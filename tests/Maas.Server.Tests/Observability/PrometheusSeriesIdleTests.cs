using System.Diagnostics.Metrics;
using Maas.Server.Observability;
using Maas.Testing;

namespace Maas.Server.Tests.Observability;

/// <summary>
/// Series that stopped moving (a deleted model's, a gone tenant's) leave /metrics after Maas:Observability:SeriesIdleMinutes
/// and free their place under the series cap; moving series stay, and a dropped one comes back from zero when it moves.
/// </summary>
public sealed class PrometheusSeriesIdleTests
{
    private static KeyValuePair<string, object?> Model(int i) => new("model", "m" + i);

    [Fact]
    public void Idle_counter_and_histogram_series_are_dropped_at_a_scrape_and_moving_ones_stay()
    {
        var clock = new AdjustableClock();
        var meterName = "Maas.Test." + Guid.NewGuid().ToString("N");
        using var exporter = new PrometheusExporter(m => m.Name == meterName, maxSeriesPerMetric: 60, seriesIdle: TimeSpan.FromMinutes(60), time: clock);
        using var meter = new Meter(meterName);
        var requests = meter.CreateCounter<long>("maas.test.requests");
        var latency = meter.CreateHistogram<double>("maas.test.latency", unit: "s");
        var depth = meter.CreateUpDownCounter<int>("maas.test.depth");
        for (var i = 0; i < 50; i++)
        {
            requests.Add(1, Model(i));
            latency.Record(0.01, Model(i));
        }

        depth.Add(3, Model(0));
        depth.Add(1, Model(1));
        depth.Add(-1, Model(1));
        Assert.Contains("maas_test_requests_total{model=\"m49\"} 1\n", exporter.Scrape());
        Assert.Equal(102, exporter.SeriesCount);

        // Within the idle time nothing goes; model 0 keeps moving.
        clock.Advance(TimeSpan.FromMinutes(59));
        requests.Add(1, Model(0));
        latency.Record(0.02, Model(0));
        exporter.Scrape();
        Assert.Equal(102, exporter.SeriesCount);

        clock.Advance(TimeSpan.FromMinutes(2));
        var text = exporter.Scrape();
        Assert.Contains("maas_test_requests_total{model=\"m0\"} 2\n", text);
        Assert.Contains("maas_test_latency_seconds_count{model=\"m0\"} 2\n", text);
        Assert.DoesNotContain("model=\"m1\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("model=\"m49\"", text, StringComparison.Ordinal);
        Assert.Contains("maas_test_depth{model=\"m0\"} 3\n", text); // an up-down counter keeps a value that is not zero
        Assert.DoesNotContain("maas_test_depth{model=\"m1\"}", text, StringComparison.Ordinal);
        Assert.Equal(3, exporter.SeriesCount);

        // The freed places take new label sets instead of the overflow series, and a dropped series comes back from zero.
        for (var i = 100; i < 150; i++)
        {
            requests.Add(1, Model(i));
        }

        requests.Add(1, Model(49));
        text = exporter.Scrape();
        Assert.DoesNotContain(PrometheusExporter.OverflowLabel, text, StringComparison.Ordinal);
        Assert.Contains("maas_test_requests_total{model=\"m149\"} 1\n", text);
        Assert.Contains("maas_test_requests_total{model=\"m49\"} 1\n", text);
    }

    [Fact]
    public async Task Measurements_racing_the_drop_of_their_series_are_all_counted_in_the_series_that_follows()
    {
        var clock = new AdjustableClock();
        var meterName = "Maas.Test." + Guid.NewGuid().ToString("N");
        using var exporter = new PrometheusExporter(m => m.Name == meterName, seriesIdle: TimeSpan.FromMinutes(1), time: clock);
        using var meter = new Meter(meterName);
        var requests = meter.CreateCounter<long>("maas.test.raced");
        requests.Add(1, Model(0));
        exporter.Scrape();
        clock.Advance(TimeSpan.FromMinutes(2));

        // The scrape that drops the idle series runs while many threads count into it.
        using var start = new Barrier(5);
        var counting = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < 20_000; i++)
            {
                requests.Add(1, Model(0));
            }
        })).ToArray();
        start.SignalAndWait();
        exporter.Scrape();
        await Task.WhenAll(counting);

        // Dropped at that scrape or not, every measurement made after the series went idle is in what is rendered now:
        // 80000 alone (dropped, started again from zero) or with the first one (not dropped: it moved before the check).
        var text = exporter.Scrape();
        Assert.True(text.Contains("maas_test_raced_total{model=\"m0\"} 80000\n", StringComparison.Ordinal) ||
            text.Contains("maas_test_raced_total{model=\"m0\"} 80001\n", StringComparison.Ordinal), text);
    }
}
