using System.Collections.Concurrent;
using System.Diagnostics;
using Maas.Testing;

namespace Maas.Server.Tests.Observability;

/// <summary>
/// An in-memory span collector: samples and keeps only the traces a test watches, so the process-wide listener
/// neither sees nor slows the other tests running in parallel.
/// </summary>
internal sealed class SpanCollector : IDisposable
{
    private readonly ConcurrentDictionary<ActivityTraceId, ConcurrentQueue<Activity>> _traces = new();
    private readonly ActivityListener _listener;

    public SpanCollector()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "Maas" or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> options) =>
                _traces.ContainsKey(options.Parent.TraceId) ? ActivitySamplingResult.AllDataAndRecorded : ActivitySamplingResult.None,
            ActivityStopped = activity =>
            {
                if (_traces.TryGetValue(activity.TraceId, out var spans))
                {
                    spans.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    /// <summary>A new caller span to send as <c>traceparent</c>; its trace is collected from now on.</summary>
    public (ActivityTraceId Trace, ActivitySpanId Span, string Header) NewCaller()
    {
        var trace = ActivityTraceId.CreateRandom();
        var span = ActivitySpanId.CreateRandom();
        _traces[trace] = new ConcurrentQueue<Activity>();
        return (trace, span, $"00-{trace}-{span}-01");
    }

    /// <summary>The trace's spans collected so far.</summary>
    public IReadOnlyList<Activity> Spans(ActivityTraceId trace) => _traces[trace].ToArray();

    /// <summary>The trace's spans once <paramref name="complete"/> holds on them; fails the test when it never does.</summary>
    public Task<IReadOnlyList<Activity>> WaitAsync(ActivityTraceId trace, Func<IReadOnlyList<Activity>, bool> complete) =>
        Conditions.ReadUntilAsync(
            () => Task.FromResult(Spans(trace)),
            complete,
            "the trace's spans are collected",
            show: spans => "collected " + string.Join(", ", spans.Select(s => s.DisplayName)));

    public void Dispose() => _listener.Dispose();
}
