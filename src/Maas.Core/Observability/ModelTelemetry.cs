using System.Diagnostics;

namespace Maas.Core.Observability;

/// <summary>Records one model version's histograms and spans; every call is a branch and nothing else when off.</summary>
public sealed class ModelTelemetry
{
    private const double NsPerSecond = 1e9;
    private readonly ServingTelemetry _owner;
    private readonly KeyValuePair<string, object?>[] _tags;
    private readonly KeyValuePair<string, object?>[] _success;
    private readonly KeyValuePair<string, object?>[] _failure;
    private readonly string _model;
    private readonly string _version;

    internal ModelTelemetry(ServingTelemetry owner, string model, string version)
    {
        _owner = owner;
        _model = model;
        _version = version;
        _tags = [new("model", model), new("version", version)];
        _success = [.. _tags, new("status", "success")];
        _failure = [.. _tags, new("status", "failure")];
    }

    /// <summary>The caller's span to parent this request's spans to; default (nothing to trace) unless tracing is on and listened to.</summary>
    public ActivityContext CaptureParent() =>
        _owner.Tracing && MaasTelemetry.Source.HasListeners() && Activity.Current is { } current ? current.Context : default;

    /// <summary>Records a finished request's latency (and, when it succeeded, its queue time).</summary>
    public void RequestCompleted(bool success, long totalNs, long queueNs)
    {
        if (_owner.RequestLatency is not { } latency)
        {
            return;
        }

        latency.Record(totalNs / NsPerSecond, success ? _success : _failure);
        if (success)
        {
            _owner.QueueTime!.Record(queueNs / NsPerSecond, _tags);
        }
    }

    /// <summary>Records one execution's batch size and engine run time.</summary>
    public void Executed(long rows, long inferNs)
    {
        if (_owner.BatchSize is not { } size)
        {
            return;
        }

        size.Record(rows, _tags);
        _owner.ComputeTime!.Record(inferNs / NsPerSecond, _tags);
    }

    /// <summary>
    /// Emits, after the fact, the spans of one execution: a <c>maas.queue</c> span per traced request (a child of
    /// that request's span), and one <c>maas.batch</c> span with a <c>maas.engine.run</c> child. The batch runs once
    /// for all its requests, so it is a child of the first traced request and links to every traced request.
    /// </summary>
    /// <param name="parents">Each request's captured parent (default when untraced).</param>
    /// <param name="enqueued">Each request's arrival, in <see cref="Stopwatch"/> ticks.</param>
    /// <param name="start">When the batch was taken from the queue.</param>
    /// <param name="runStart">When the engine run began.</param>
    /// <param name="runEnd">When the engine run ended.</param>
    /// <param name="rows">Rows in the batch.</param>
    /// <param name="instance">The engine instance that ran it.</param>
    public void TraceExecution(ReadOnlySpan<ActivityContext> parents, ReadOnlySpan<long> enqueued, long start, long runStart, long runEnd, long rows, int instance)
    {
        // One clock reading for the whole batch: Stopwatch ticks become wall-clock times by their distance from now.
        var nowTicks = Stopwatch.GetTimestamp();
        var now = DateTime.UtcNow;
        DateTime At(long ticks) => now - Stopwatch.GetElapsedTime(ticks, nowTicks);

        var traced = 0;
        foreach (var parent in parents)
        {
            traced += parent == default ? 0 : 1;
        }

        if (traced == 0)
        {
            return;
        }

        // The batch links every traced request (the ActivitySource copies the links into the span).
        var links = new ActivityLink[traced];
        var queueEnd = At(start);
        ActivityContext first = default;
        for (int i = 0, l = 0; i < parents.Length; i++)
        {
            if (parents[i] == default)
            {
                continue;
            }

            if (l == 0)
            {
                first = parents[i];
            }

            links[l++] = new ActivityLink(parents[i]);
            using var queue = MaasTelemetry.Source.StartActivity("maas.queue", ActivityKind.Internal, parents[i], startTime: At(enqueued[i]));
            if (queue is not null)
            {
                if (queue.IsAllDataRequested)
                {
                    queue.AddTag("maas.model", _model);
                    queue.AddTag("maas.model.version", _version);
                }

                queue.SetEndTime(queueEnd);
            }
        }

        using var batch = MaasTelemetry.Source.StartActivity("maas.batch", ActivityKind.Internal, first, links: links, startTime: queueEnd);
        if (batch is null)
        {
            return;
        }

        if (batch.IsAllDataRequested)
        {
            batch.AddTag("maas.model", _model);
            batch.AddTag("maas.model.version", _version);
            batch.AddTag("maas.batch.size", ServingTelemetry.Boxed(rows));
            batch.AddTag("maas.batch.requests", ServingTelemetry.Boxed(parents.Length));
        }

        using (var run = MaasTelemetry.Source.StartActivity("maas.engine.run", ActivityKind.Internal, batch.Context, startTime: At(runStart)))
        {
            if (run is not null)
            {
                if (run.IsAllDataRequested)
                {
                    run.AddTag("maas.model", _model);
                    run.AddTag("maas.model.version", _version);
                    run.AddTag("maas.engine.instance", ServingTelemetry.Boxed(instance));
                }

                run.SetEndTime(At(runEnd));
            }
        }

        batch.SetEndTime(now);
    }
}
