namespace Maas.Optimization;

/// <summary>Settings of optimisation jobs (<c>Maas:Optimization</c>).</summary>
public sealed record OptimizationOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Maas:Optimization";

    /// <summary>Threads llama.cpp quantises and measures with.</summary>
    public int Threads { get; init; } = 2;

    /// <summary>The most tokens of text an importance matrix is gathered from (the rest of the text is not read).</summary>
    public int ImatrixMaxTokens { get; init; } = 8192;

    /// <summary>Timed calls of each ONNX model (source and rewrite) for the p50 latency, and as many at the throughput batch.</summary>
    public int TimedRuns { get; init; } = 20;

    /// <summary>
    /// Rejected versions an administrator has chosen to serve anyway, each as "model/versions/N"; every other
    /// rejected version answers a 400 when called.
    /// </summary>
    public IReadOnlyList<string> ServeRejected { get; init; } = [];

    /// <summary>True when <paramref name="model"/>'s version <paramref name="version"/> is in <see cref="ServeRejected"/>.</summary>
    public bool Forces(string model, int version) => ServeRejected.Contains($"{model}/versions/{version}", StringComparer.Ordinal);

    /// <summary>The problems with these settings, one sentence each.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        foreach (var entry in ServeRejected)
        {
            var at = entry.LastIndexOf("/versions/", StringComparison.Ordinal);
            if (at <= 0 || !int.TryParse(entry[(at + "/versions/".Length)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture,
                out var n) || n < 1)
            {
                errors.Add($"{Section}:ServeRejected entries must be 'model/versions/N', not '{entry}'");
            }
        }

        if (Threads is < 1 or > 256)
        {
            errors.Add($"{Section}:Threads must be from 1 to 256, not {Threads}");
        }

        if (ImatrixMaxTokens is < 16 or > 1_000_000)
        {
            errors.Add($"{Section}:ImatrixMaxTokens must be from 16 to 1000000, not {ImatrixMaxTokens}");
        }

        if (TimedRuns is < 1 or > 10_000)
        {
            errors.Add($"{Section}:TimedRuns must be from 1 to 10000, not {TimedRuns}");
        }

        return errors;
    }
}
