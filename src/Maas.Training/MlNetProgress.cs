using System.Collections;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace Maas.Training;

/// <summary>
/// Reads the counters ML.NET's trainers keep on their progress channels (LightGBM's boosting iteration, SDCA's pass,
/// L-BFGS's iteration), which say nothing per iteration through <see cref="MLContext.Log"/>.
/// </summary>
/// <remarks>
/// Every <see cref="MLContext"/> has a progress tracker that collects its computations' checkpoints and, when asked,
/// calls each running computation's own counter; ML.NET 6 keeps it internal (its console tools poll it, an
/// <see cref="MLContext"/> does not expose it). It is therefore found once by reflection, like
/// <see cref="MlNetCancellation"/>, and <c>FitProgressTests</c> fails if an ML.NET upgrade renames or removes it (the
/// fits of these trainers then report nothing until they end, as before). Only one thread may read a context's tracker.
/// </remarks>
internal sealed class MlNetProgress
{
    private const BindingFlags Members = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;
    private const string Iterations = "iterations";
    private const string Iteration = "Iteration";
    private static readonly Reflected? Found = Find();
    private readonly object _tracker;

    private MlNetProgress(object tracker) => _tracker = tracker;

    /// <summary>True when this ML.NET has the tracker and the members read here.</summary>
    public static bool Available => Found is not null;

    /// <summary>The tracker of <paramref name="context"/>; null when this ML.NET does not have it.</summary>
    public static MlNetProgress? Of(MLContext context) =>
        Found is { } found && found.Environment.GetValue(context) is { } environment && found.Tracker.GetValue(environment) is { } tracker
            ? new MlNetProgress(tracker)
            : null;

    /// <summary>
    /// The iterations the context's computations counted since the last read, in order: each checkpoint, and for a
    /// computation with none the count it holds now, with its limit when it has one. Only counts in iterations are
    /// taken: a computation also counts rows (L-BFGS's gradient, SDCA's preprocessing), and LightGBM's checkpoints carry
    /// the iteration as their first metric.
    /// </summary>
    public IReadOnlyList<Count> Read()
    {
        var found = Found!;
        var counts = new List<Count>();
        foreach (var e in (IEnumerable)found.GetAllProgress.Invoke(_tracker, null)!)
        {
            if (found.Entry.GetValue(e) is not { } entry || found.Header.GetValue(entry) is not ProgressHeader header)
            {
                continue;
            }

            var done = header.UnitNames is [Iterations, ..] ? First(found.Progress, entry)
                : header.MetricNames is [Iteration, ..] ? First(found.Metrics, entry)
                : null;
            if (done is not null)
            {
                counts.Add(new Count((string)found.Name.GetValue(e)!, done.Value, header.UnitNames is [Iterations, ..] ? First(found.Limit, entry) : null));
            }
        }

        return counts;
    }

    private static double? First(FieldInfo field, object entry) => field.GetValue(entry) is double?[] { Length: > 0 } values ? values[0] : null;

    private static Reflected? Find()
    {
        var core = typeof(ProgressHeader).Assembly;
        var tracker = core.GetType("Microsoft.ML.Runtime.ProgressReporting+ProgressTracker");
        var progressEvent = core.GetType("Microsoft.ML.Runtime.ProgressReporting+ProgressEvent");
        var entry = core.GetType("Microsoft.ML.Runtime.ProgressReporting+ProgressEntry");
        var environment = typeof(MLContext).GetField("_env", Members);
        var trackerField = environment is null ? null : Field(environment.FieldType, "ProgressTracker");
        var read = tracker?.GetMethod("GetAllProgress", Members, Type.EmptyTypes);
        var name = progressEvent?.GetField("Name", Members);
        var eventEntry = progressEvent?.GetField("ProgressEntry", Members);
        var progress = entry?.GetField("Progress", Members);
        var limit = entry?.GetField("ProgressLim", Members);
        var metrics = entry?.GetField("Metrics", Members);
        var header = entry?.GetField("Header", Members);
        return environment is null || trackerField is null || read is null || name is null || eventEntry is null || progress is null || limit is null || metrics is null ||
            header is null
            ? null
            : new Reflected(environment, trackerField, read, name, eventEntry, header, progress, limit, metrics);
    }

    // A field declared by the type or one of its bases (the tracker is a protected field of ML.NET's environment base).
    private static FieldInfo? Field(Type? type, string name)
    {
        for (; type is not null; type = type.BaseType)
        {
            if (type.GetField(name, Members | BindingFlags.DeclaredOnly) is { } field)
            {
                return field;
            }
        }

        return null;
    }

    /// <summary>A computation's iterations: its name ("SDCA training"; " #2" added when the context ran it before), the count, its limit.</summary>
    public readonly record struct Count(string Computation, double Done, double? Limit);

    private sealed record Reflected(FieldInfo Environment, FieldInfo Tracker, MethodInfo GetAllProgress, FieldInfo Name, FieldInfo Entry,
        FieldInfo Header, FieldInfo Progress, FieldInfo Limit, FieldInfo Metrics);
}
