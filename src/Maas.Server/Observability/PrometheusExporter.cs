using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Maas.Server.Observability;

/// <summary>Collects System.Diagnostics.Metrics measurements and renders them in the Prometheus text format.</summary>
/// <remarks>
/// A small exporter of our own: cumulative counters, gauges from up-down counters and observable instruments,
/// and histograms with fixed buckets (the instrument's advice, else a default chosen by unit). It listens only to
/// the meters the filter accepts (this app's), which OpenTelemetry's exporter cannot; prometheus-net's meter adapter
/// drops the histograms (docs/observability.md, "Why the own exporter stays").
/// </remarks>
public sealed class PrometheusExporter : IDisposable
{
    private static readonly double[] SecondsBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    private static readonly double[] MillisecondsBuckets = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000];
    private static readonly double[] CountBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384];

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, InstrumentState> _states = new();
    private readonly Func<Meter, bool> _meterFilter;
    private readonly Lock _scrapeLock = new();
    private readonly TimeSpan _seriesIdle;
    private readonly TimeProvider _time;

    /// <summary>The label OpenTelemetry gives the one series that takes every label set past a metric's series cap.</summary>
    public const string OverflowLabel = "otel_metric_overflow=\"true\"";

    /// <summary>Listens to every meter the filter accepts; each metric keeps at most <paramref name="maxSeriesPerMetric"/> label sets.</summary>
    /// <remarks>
    /// Measurements with a label set past the cap are added to one overflow series (<see cref="OverflowLabel"/>), so
    /// totals stay right and memory stays bounded. A counter or histogram series that has not moved for
    /// <paramref name="seriesIdle"/> (checked at each scrape; <see cref="TimeSpan.Zero"/> keeps series forever) is
    /// dropped, so the label sets of deleted models, versions and tenants neither stay exported nor fill the cap; one
    /// that moves again starts from zero, which Prometheus reads as a counter reset.
    /// </remarks>
    public PrometheusExporter(Func<Meter, bool> meterFilter, int maxSeriesPerMetric = ObservabilityOptions.DefaultMaxSeriesPerMetric, TimeSpan seriesIdle = default,
        TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSeriesPerMetric, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(seriesIdle, TimeSpan.Zero);
        _seriesIdle = seriesIdle;
        _time = time ?? TimeProvider.System;
        _meterFilter = meterFilter;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (_meterFilter(instrument.Meter))
            {
                _states[instrument] = InstrumentState.For(instrument, maxSeriesPerMetric);
                listener.EnableMeasurementEvents(instrument, _states[instrument]);
            }
        };
        _listener.MeasurementsCompleted = (instrument, _) => _states.TryRemove(instrument, out InstrumentState? _);
        _listener.SetMeasurementEventCallback<double>((i, v, tags, state) => ((InstrumentState)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<float>((i, v, tags, state) => ((InstrumentState)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<long>((i, v, tags, state) => ((InstrumentState)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, state) => ((InstrumentState)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<short>((i, v, tags, state) => ((InstrumentState)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<byte>((i, v, tags, state) => ((InstrumentState)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<decimal>((i, v, tags, state) => ((InstrumentState)state!).Record((double)v, tags));
        _listener.Start();
    }

    /// <summary>Renders every series in the text exposition format (version 0.0.4).</summary>
    public string Scrape()
    {
        var text = new StringBuilder(16 * 1024);
        lock (_scrapeLock)
        {
            // Observable instruments report only when asked; gauges are reset first so vanished series disappear.
            foreach (var state in _states.Values)
            {
                if (state.IsObservable)
                {
                    state.Clear();
                }
            }

            _listener.RecordObservableInstruments();
            if (_seriesIdle > TimeSpan.Zero)
            {
                var now = _time.GetTimestamp();
                foreach (var state in _states.Values)
                {
                    if (!state.IsObservable)
                    {
                        state.DropIdle(now, _seriesIdle, _time);
                    }
                }
            }

            var byName = _states.Values.Where(s => !s.IsEmpty).GroupBy(s => s.MetricName).OrderBy(g => g.Key, StringComparer.Ordinal);
            foreach (var group in byName)
            {
                var first = group.First();
                text.Append("# HELP ").Append(first.MetricName).Append(' ').Append(EscapeHelp(first.Help)).Append('\n');
                text.Append("# TYPE ").Append(first.MetricName).Append(' ').Append(first.TypeName).Append('\n');
                foreach (var state in group)
                {
                    state.Render(text);
                }
            }
        }

        return text.ToString();
    }

    /// <inheritdoc />
    public void Dispose() => _listener.Dispose();

    /// <summary>Series kept now over every metric (tests check that idle ones go).</summary>
    internal int SeriesCount => _states.Values.Sum(s => s.SeriesCount);

    /// <summary>The Prometheus name for an instrument: dots to underscores, unit suffix, _total for counters.</summary>
    public static string MetricNameOf(string name, string? unit, bool isCounter, bool isHistogram = false)
    {
        var baseName = Sanitize(name);
        var suffix = UnitSuffix(unit);
        if (suffix.Length > 0 && !baseName.EndsWith("_" + suffix, StringComparison.Ordinal))
        {
            baseName += "_" + suffix;
        }

        if (isCounter || isHistogram)
        {
            return isHistogram || baseName.EndsWith("_total", StringComparison.Ordinal) ? baseName : baseName + "_total";
        }

        // Prometheus reserves _count/_sum/_bucket for histograms and summaries (promtool rejects them on gauges).
        foreach (var reserved in ReservedSuffixes)
        {
            if (baseName.EndsWith(reserved, StringComparison.Ordinal))
            {
                return baseName + "_current";
            }
        }

        return baseName;
    }

    private static readonly string[] ReservedSuffixes = ["_count", "_sum", "_bucket", "_total"];

    private static string UnitSuffix(string? unit) => unit switch
    {
        null or "" or "1" => "",
        "s" => "seconds",
        "ms" => "milliseconds",
        "By" => "bytes",
        _ when unit.StartsWith('{') => "",
        _ => Sanitize(unit),
    };

    internal static string Sanitize(string name)
    {
        var chars = name.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            var c = chars[i];
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_' or ':' || (i > 0 && c is >= '0' and <= '9');
            chars[i] = ok ? c : '_';
        }

        return new string(chars);
    }

    private static string EscapeHelp(string help) => help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    internal static string EscapeLabel(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    internal static string Format(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : double.IsNaN(value) ? "NaN" : value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Per-instrument aggregation; one series per distinct label set.</summary>
    private sealed class InstrumentState
    {
        private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);

        // Hot path: a label set seen before finds its series from the tag span itself, without building its label text.
        private readonly ConcurrentDictionary<TagSet, Series> _byTags = new(TagSetComparer.Instance);
        private readonly ConcurrentDictionary<TagSet, Series>.AlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>> _byTagSpan;
        private readonly double[]? _bounds;
        private readonly bool _cumulative;
        private readonly int _maxSeries;

        private InstrumentState(Instrument instrument, string metricName, string typeName, double[]? bounds, bool cumulative, int maxSeries)
        {
            _maxSeries = maxSeries;
            MetricName = metricName;
            TypeName = typeName;
            Help = string.IsNullOrEmpty(instrument.Description) ? instrument.Name : instrument.Description;
            IsObservable = instrument.IsObservable;
            _bounds = bounds;
            _cumulative = cumulative;
            _byTagSpan = _byTags.GetAlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>>();
        }

        public string MetricName { get; }

        public string TypeName { get; }

        public string Help { get; }

        public bool IsObservable { get; }

        public bool IsEmpty => _series.IsEmpty;

        public static InstrumentState For(Instrument instrument, int maxSeries)
        {
            var kind = instrument.GetType().Name;
            var isHistogram = kind.StartsWith("Histogram", StringComparison.Ordinal);
            var isCounter = kind.StartsWith("Counter", StringComparison.Ordinal) || kind.StartsWith("ObservableCounter", StringComparison.Ordinal);
            var name = MetricNameOf(instrument.Name, instrument.Unit, isCounter, isHistogram);
            if (isHistogram)
            {
                return new InstrumentState(instrument, name, "histogram", BucketsFor(instrument), cumulative: true, maxSeries);
            }

            // Synchronous counters add up; observable counters report their running total each time.
            var cumulative = !instrument.IsObservable && (isCounter || kind.StartsWith("UpDownCounter", StringComparison.Ordinal));
            return new InstrumentState(instrument, name, isCounter ? "counter" : "gauge", null, cumulative, maxSeries);
        }

        private static double[] BucketsFor(Instrument instrument)
        {
            var advice = instrument.GetType().GetProperty("Advice")?.GetValue(instrument);
            if (advice?.GetType().GetProperty("HistogramBucketBoundaries")?.GetValue(advice) is System.Collections.IEnumerable adviced)
            {
                var list = adviced.Cast<object>().Select(o => Convert.ToDouble(o, CultureInfo.InvariantCulture)).ToArray();
                if (list.Length > 0)
                {
                    return list;
                }
            }

            return instrument.Unit switch
            {
                "s" => SecondsBuckets,
                "ms" => MillisecondsBuckets,
                _ => CountBuckets,
            };
        }

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var spins = new SpinWait();
            while (true)
            {
                if (!_byTagSpan.TryGetValue(tags, out var series))
                {
                    if (_series.Count >= _maxSeries)
                    {
                        // Past the cap a new label set is neither kept nor looked up by its tags: one shared series takes it.
                        series = _series.GetOrAdd(OverflowLabel, static (k, bounds) => new Series(k, bounds), _bounds);
                    }
                    else
                    {
                        series = _series.GetOrAdd(LabelKey(tags), static (k, bounds) => new Series(k, bounds), _bounds);
                        _byTagSpan.TryAdd(tags, series);
                    }
                }

                if (!series.TryEnter())
                {
                    // DropIdle holds the series (for an instant) or has dropped it: then the measurement goes into the
                    // series that takes its label set next. Unlinked here too, in case this call found it by its label
                    // text and linked it again after the drop's unlinking pass.
                    if (series.Gone)
                    {
                        _series.TryRemove(KeyValuePair.Create(series.Labels, series));
                        if (_byTagSpan.TryGetValue(tags, out var linked) && ReferenceEquals(linked, series))
                        {
                            _byTagSpan.TryRemove(tags, out _); // at worst a successor's link goes too: found again by its label text
                        }
                    }

                    spins.SpinOnce();
                    continue;
                }

                if (_bounds is not null)
                {
                    series.Observe(value, _bounds);
                }
                else if (_cumulative)
                {
                    series.Add(value);
                }
                else
                {
                    series.Set(value);
                }

                series.Exit();
                return;
            }
        }

        /// <summary>
        /// Drops the series that have not moved since <paramref name="idle"/> ago (as the scrapes saw them); scrape lock
        /// held. A series is taken (no measurement can go into it) and checked again before it goes, so a measurement
        /// either went in before and keeps it, or waits and goes into its successor: none is lost.
        /// </summary>
        public void DropIdle(long now, TimeSpan idle, TimeProvider time)
        {
            // A counter or histogram starts again from zero as Prometheus expects after a reset; an up-down counter's
            // value would be lost, so it goes only at zero, and a gauge that is set never goes.
            var resets = TypeName != "gauge";
            if (!resets && !_cumulative)
            {
                return;
            }

            HashSet<Series>? dropped = null;
            foreach (var series in _series.Values)
            {
                if (Moved(series, resets))
                {
                    (series.SeenValue, series.SeenCount, series.SeenAt) = (series.Value, Interlocked.Read(ref series.Count), now);
                    continue;
                }

                if (time.GetElapsedTime(series.SeenAt, now) < idle || !series.TryTake())
                {
                    continue;
                }

                if (Moved(series, resets))
                {
                    series.Release(); // a measurement came between the check and the take: it stays
                    continue;
                }

                series.Gone = true;
                (dropped ??= []).Add(series);
            }

            if (dropped is null)
            {
                return;
            }

            foreach (var entry in _byTags)
            {
                if (dropped.Contains(entry.Value))
                {
                    _byTags.TryRemove(entry);
                }
            }

            foreach (var series in dropped)
            {
                _series.TryRemove(KeyValuePair.Create(series.Labels, series));
            }
        }

        private static bool Moved(Series series, bool resets) =>
            series.SeenAt == 0 || series.Value != series.SeenValue || Interlocked.Read(ref series.Count) != series.SeenCount || (!resets && series.Value != 0);

        /// <summary>Series kept now (tests check that idle ones go).</summary>
        public int SeriesCount => _series.Count;

        public void Clear()
        {
            _byTags.Clear();
            _series.Clear();
        }

        public void Render(StringBuilder text)
        {
            foreach (var series in _series.Values.OrderBy(s => s.Labels, StringComparer.Ordinal))
            {
                if (_bounds is null)
                {
                    AppendSample(text, MetricName, series.Labels, null, series.Value);
                    continue;
                }

                long running = 0;
                for (var i = 0; i < _bounds.Length; i++)
                {
                    running += Interlocked.Read(ref series.Buckets![i]);
                    AppendSample(text, MetricName + "_bucket", series.Labels, "le=\"" + Format(_bounds[i]) + "\"", running);
                }

                var count = Interlocked.Read(ref series.Count);
                AppendSample(text, MetricName + "_bucket", series.Labels, "le=\"+Inf\"", count);
                AppendSample(text, MetricName + "_sum", series.Labels, null, series.Value);
                AppendSample(text, MetricName + "_count", series.Labels, null, count);
            }
        }

        private static void AppendSample(StringBuilder text, string name, string labels, string? extra, double value)
        {
            text.Append(name);
            if (labels.Length > 0 || extra is not null)
            {
                text.Append('{').Append(labels);
                if (extra is not null)
                {
                    if (labels.Length > 0)
                    {
                        text.Append(',');
                    }

                    text.Append(extra);
                }

                text.Append('}');
            }

            text.Append(' ').Append(Format(value)).Append('\n');
        }

        private static string LabelKey(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length == 0)
            {
                return "";
            }

            var pairs = new KeyValuePair<string, object?>[tags.Length];
            tags.CopyTo(pairs);
            Array.Sort(pairs, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
            var builder = new StringBuilder();
            foreach (var (key, value) in pairs)
            {
                if (builder.Length > 0)
                {
                    builder.Append(',');
                }

                builder.Append(Sanitize(key)).Append("=\"")
                    .Append(EscapeLabel(Convert.ToString(value, CultureInfo.InvariantCulture) ?? "")).Append('"');
            }

            return builder.ToString();
        }
    }

    /// <summary>A copy of one measurement's tags, in the order they came.</summary>
    private sealed class TagSet(KeyValuePair<string, object?>[] tags)
    {
        public KeyValuePair<string, object?>[] Tags { get; } = tags;
    }

    /// <summary>Compares tag sets, and a measurement's tag span with a stored set, key by key and value by value.</summary>
    private sealed class TagSetComparer : IEqualityComparer<TagSet>, IAlternateEqualityComparer<ReadOnlySpan<KeyValuePair<string, object?>>, TagSet>
    {
        public static readonly TagSetComparer Instance = new();

        public bool Equals(TagSet? x, TagSet? y) => x is not null && y is not null && Equals(x.Tags.AsSpan(), y);

        public int GetHashCode(TagSet obj) => GetHashCode(obj.Tags.AsSpan());

        public bool Equals(ReadOnlySpan<KeyValuePair<string, object?>> alternate, TagSet other)
        {
            var tags = other.Tags;
            if (alternate.Length != tags.Length)
            {
                return false;
            }

            for (var i = 0; i < tags.Length; i++)
            {
                if (!string.Equals(alternate[i].Key, tags[i].Key, StringComparison.Ordinal) || !object.Equals(alternate[i].Value, tags[i].Value))
                {
                    return false;
                }
            }

            return true;
        }

        public int GetHashCode(ReadOnlySpan<KeyValuePair<string, object?>> alternate)
        {
            var hash = new HashCode();
            foreach (var (key, value) in alternate)
            {
                hash.Add(key, StringComparer.Ordinal);
                hash.Add(value);
            }

            return hash.ToHashCode();
        }

        public TagSet Create(ReadOnlySpan<KeyValuePair<string, object?>> alternate) => new(alternate.ToArray());
    }

    /// <summary>One label set's value (counter/gauge) or buckets, sum and count (histogram).</summary>
    private sealed class Series(string labels, double[]? bounds)
    {
        private double _value;

        public string Labels { get; } = labels;

        public readonly long[]? Buckets = bounds is null ? null : new long[bounds.Length];

        public long Count;

        // What the scrapes saw last and since when (read and written under the scrape lock only).
        public double SeenValue;
        public long SeenCount;
        public long SeenAt;

        // Measurements going in now; int.MinValue added while DropIdle holds the series (no measurement enters then).
        private int _users;
        private volatile bool _gone;

        /// <summary>Dropped as idle: rendered no more, and unlinked by whoever finds it.</summary>
        public bool Gone
        {
            get => _gone;
            set => _gone = value;
        }

        /// <summary>Enters a measurement; false while the series is held or gone (the attempt is undone).</summary>
        public bool TryEnter()
        {
            if (Interlocked.Increment(ref _users) > 0)
            {
                return true;
            }

            Interlocked.Decrement(ref _users);
            return false;
        }

        /// <summary>Ends a measurement entered with <see cref="TryEnter"/>.</summary>
        public void Exit() => Interlocked.Decrement(ref _users);

        /// <summary>Holds the series when no measurement is going in (its value cannot change then).</summary>
        public bool TryTake() => Interlocked.CompareExchange(ref _users, int.MinValue, 0) == 0;

        /// <summary>Lets measurements in again after <see cref="TryTake"/> (wraps back to the count of attempts under way).</summary>
        public void Release() => Interlocked.Add(ref _users, int.MinValue);

        public double Value => Volatile.Read(ref _value);

        public void Set(double value) => Volatile.Write(ref _value, value);

        public void Add(double delta)
        {
            double seen, updated;
            do
            {
                seen = Volatile.Read(ref _value);
                updated = seen + delta;
            }
            while (Interlocked.CompareExchange(ref _value, updated, seen) != seen);
        }

        public void Observe(double value, double[] bounds)
        {
            var index = Array.BinarySearch(bounds, value);
            if (index < 0)
            {
                index = ~index;
            }

            if (index < bounds.Length)
            {
                Interlocked.Increment(ref Buckets![index]);
            }

            Interlocked.Increment(ref Count);
            Add(value);
        }
    }
}
