using System.Diagnostics;
using Maas.Core.Formats.Onnx;
using Maas.Runtimes.Onnx;

namespace Maas.Optimization.Onnx;

/// <summary>Runs a source model and its rewrite side by side on ONNX Runtime (CPU, one thread each).</summary>
public static class OnnxComparison
{
    /// <summary>
    /// Compares on <paramref name="samples"/> inputs, timing <paramref name="timedRuns"/> calls of each: random ones from
    /// <paramref name="seed"/>, or those <paramref name="given"/> makes for each sample index (in input order; disposed here).
    /// </summary>
    /// <exception cref="OnnxRuntimeException">A model does not load or run.</exception>
    /// <exception cref="NotSupportedException">An input's type cannot be sampled, or the two models' signatures differ.</exception>
    /// <param name="timing">Called once the outputs are compared, before the timed calls (a job reports the stage).</param>
    public static OnnxComparisonResult Compare(string source, string candidate, int samples, int seed, int timedRuns, CancellationToken cancellationToken,
        Func<int, OnnxTensor[]>? given = null, int batch = 1, Action? timing = null)
    {
        using var sourceSession = Open(source);
        using var candidateSession = Open(candidate);
        if (!sourceSession.Inputs.Select(i => (i.Name, i.ElementType)).SequenceEqual(candidateSession.Inputs.Select(i => (i.Name, i.ElementType)))
            || !sourceSession.Outputs.Select(o => (o.Name, o.ElementType)).SequenceEqual(candidateSession.Outputs.Select(o => (o.Name, o.ElementType))))
        {
            throw new NotSupportedException("the rewritten model's inputs or outputs differ from the source's in name or type");
        }

        var random = new Random(seed);
        double maxDiff = 0, sumDiff = 0, sumSource = 0;
        long floatCount = 0, nonFinite = 0, mismatched = 0, rows = 0, agreeing = 0;
        OnnxTensor[]? first = null;
        try
        {
            for (var s = 0; s < samples; s++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var inputs = given?.Invoke(s) ?? sourceSession.Inputs.Select(i => Sample(i, random)).ToArray();
                first ??= inputs;
                var named = sourceSession.Inputs.Select((info, k) => new KeyValuePair<string, OnnxTensor>(info.Name, inputs[k])).ToArray();
                using var expected = RunSource(sourceSession, named, given is null, cancellationToken);
                using var actual = candidateSession.Run(named, cancellationToken: cancellationToken);
                for (var o = 0; o < expected.Count; o++)
                {
                    var a = Values(expected[o]);
                    var b = Values(actual[o]);
                    if (a is null || b is null)
                    {
                        var same = expected[o].ElementType == OnnxElementType.String
                            ? expected[o].GetStrings().SequenceEqual(actual[o].GetStrings(), StringComparer.Ordinal)
                            : expected[o].GetBytes().SequenceEqual(actual[o].GetBytes());
                        mismatched += same ? 0 : 1;
                        continue;
                    }

                    for (var i = 0; i < a.Length; i++)
                    {
                        if (!double.IsFinite(b[i]) && double.IsFinite(a[i]))
                        {
                            nonFinite++;
                            continue;
                        }

                        var diff = Math.Abs(a[i] - b[i]);
                        if (double.IsFinite(diff))
                        {
                            maxDiff = Math.Max(maxDiff, diff);
                            sumDiff += diff;
                            sumSource += Math.Abs(a[i]);
                            floatCount++;
                        }
                    }

                    var shape = expected[o].ShapeSpan;
                    var width = shape.Length >= 2 ? (int)shape[^1] : 0;
                    if (width > 1)
                    {
                        for (var r = 0; r + width <= a.Length; r += width)
                        {
                            rows++;
                            agreeing += ArgMax(a, r, width) == ArgMax(b, r, width) ? 1 : 0;
                        }
                    }
                }

                if (!ReferenceEquals(inputs, first))
                {
                    foreach (var t in inputs)
                    {
                        t.Dispose();
                    }
                }
            }

            timing?.Invoke();
            var timed = sourceSession.Inputs.Select((info, k) => new KeyValuePair<string, OnnxTensor>(info.Name, first![k])).ToArray();
            var (sourceP50, candidateP50) = Time(sourceSession, candidateSession, timed, timedRuns, cancellationToken);
            var (throughputBatch, sourceThroughput, candidateThroughput,
                throughputNote) = Throughput(sourceSession, candidateSession, first!, batch, sourceP50, candidateP50, timedRuns, cancellationToken);
            return new OnnxComparisonResult
            {
                Samples = samples,
                MaxAbsDiff = nonFinite > 0 ? double.PositiveInfinity : maxDiff,
                MeanAbsDiff = nonFinite > 0 ? double.PositiveInfinity : floatCount > 0 ? sumDiff / floatCount : 0,
                SourceMeanAbs = floatCount > 0 ? sumSource / floatCount : 0,
                NonFiniteValues = nonFinite,
                Top1Agreement = rows > 0 ? (double)agreeing / rows : null,
                MismatchedValues = mismatched,
                SourceLatencyP50Ms = sourceP50,
                LatencyP50Ms = candidateP50,
                ThroughputBatch = throughputBatch,
                SourceThroughputPerSecond = sourceThroughput,
                ThroughputPerSecond = candidateThroughput,
                ThroughputNote = throughputNote,
            };
        }
        finally
        {
            foreach (var t in first ?? [])
            {
                t.Dispose();
            }
        }
    }

    // The source must run on what it is compared on: when it does not, the measurement cannot be made, and the error
    // says so rather than blaming the rewrite.
    private static OnnxValues RunSource(OnnxSession source, KeyValuePair<string, OnnxTensor>[] inputs, bool sampled, CancellationToken cancellationToken)
    {
        try
        {
            return source.Run(inputs, cancellationToken: cancellationToken);
        }
        catch (OnnxRuntimeException e)
        {
            var fed = string.Join(", ", inputs.Select(i => $"'{i.Key}' [{string.Join(", ", i.Value.ShapeSpan.ToArray())}]"));
            throw new NotSupportedException($"the source model does not run on the {(sampled ? "sample inputs" : "rows it is compared on")} ({fed}{(sampled ? "; open dimensions " +
                "are sampled as 1" : "")}): {e.Message}", e);
        }
    }

    private static OnnxSession Open(string path)
    {
        // One thread each: the job shares the machine, and ratios of like with like are what the gate reads.
        using var options = new OnnxSessionOptions { IntraOpThreads = 1, InterOpThreads = 1 };
        return OnnxSession.Open(path, options);
    }

    /// <summary>The most bytes of batched inputs a throughput measurement builds (the rest of the batch is dropped).</summary>
    public const long MaxBatchInputBytes = 64L << 20;

    // Items per second at `batch`: the first sample repeated along the first dimension when every input leaves it open
    // and the sample has it at 1; otherwise (a fixed batch, as UltraFace's [1, 3, 240, 320]) the batch-1 timings.
    private static (int Batch, double Source, double Candidate, string? Note) Throughput(OnnxSession source, OnnxSession candidate, OnnxTensor[] sample, int batch,
        double sourceP50, double candidateP50, int runs, CancellationToken cancellationToken)
    {
        static double PerSecond(int items, double ms) => ms > 0 ? items * 1000 / ms : 0;
        if (batch <= 1)
        {
            return (1, PerSecond(1, sourceP50), PerSecond(1, candidateP50), null);
        }

        var open = source.Inputs.Zip(candidate.Inputs).All(p => p.First.Shape.Count > 0 && p.First.Shape[0].Value <= 0 && p.Second.Shape.Count > 0 && p.Second.Shape[0].Value <= 0)
            && sample.All(t => t.ShapeSpan.Length > 0 && t.ShapeSpan[0] == 1 && t.ElementType != OnnxElementType.String);
        if (!open)
        {
            return (1, PerSecond(1, sourceP50), PerSecond(1, candidateP50), $"batch {batch} asked for; the model's first input dimension is fixed, so throughput is at batch 1");
        }

        var itemBytes = sample.Sum(t => (long)t.GetBytes().Length);
        var fits = (int)Math.Clamp(MaxBatchInputBytes / Math.Max(1, itemBytes), 1, batch);
        var batched = new OnnxTensor?[sample.Length];
        try
        {
            for (var k = 0; k < sample.Length; k++)
            {
                var item = sample[k].GetBytes();
                var bytes = new byte[item.Length * fits];
                for (var i = 0; i < fits; i++)
                {
                    item.CopyTo(bytes.AsSpan(i * item.Length));
                }

                var shape = sample[k].ShapeSpan.ToArray();
                shape[0] = fits;
                batched[k] = OnnxTensor.CreateFromBytes(sample[k].ElementType, bytes, shape);
            }

            var named = source.Inputs.Select((info, k) => new KeyValuePair<string, OnnxTensor>(info.Name, batched[k]!)).ToArray();
            try
            {
                source.Run(named, cancellationToken: cancellationToken).Dispose();
            }
            catch (OnnxRuntimeException e)
            {
                // A model that declares an open batch dimension but fixes it inside (a Reshape to [1, ...]) runs at batch 1 only.
                var reason = e.Message.Split('\n')[0];
                return (1, PerSecond(1, sourceP50), PerSecond(1, candidateP50),
                    $"batch {fits} asked for; the source model does not run at that batch ({(reason.Length > 300 ? reason[..300] + "..." : reason)}), so throughput is at batch 1");
            }

            var (a, b) = Time(source, candidate, named, runs, cancellationToken);
            return (fits, PerSecond(fits, a), PerSecond(fits, b),
                fits < batch ? $"batch {batch} asked for; {fits} items fit the {MaxBatchInputBytes >> 20} MiB of batched inputs" : null);
        }
        finally
        {
            foreach (var t in batched)
            {
                t?.Dispose();
            }
        }
    }

    // Interleaved, so a busy moment of the machine lands on both models alike.
    private static (double Source, double Candidate) Time(OnnxSession source, OnnxSession candidate, KeyValuePair<string, OnnxTensor>[] inputs, int runs,
        CancellationToken cancellationToken)
    {
        for (var w = 0; w < 2; w++)
        {
            source.Run(inputs, cancellationToken: cancellationToken).Dispose();
            candidate.Run(inputs, cancellationToken: cancellationToken).Dispose();
        }

        var a = new double[runs];
        var b = new double[runs];
        for (var r = 0; r < runs; r++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var start = Stopwatch.GetTimestamp();
            source.Run(inputs, cancellationToken: cancellationToken).Dispose();
            a[r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            start = Stopwatch.GetTimestamp();
            candidate.Run(inputs, cancellationToken: cancellationToken).Dispose();
            b[r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        return (Median(a), Median(b));
    }

    private static double Median(double[] values)
    {
        Array.Sort(values);
        return values.Length == 0 ? 0 : values.Length % 2 == 1 ? values[values.Length / 2] : (values[(values.Length / 2) - 1] + values[values.Length / 2]) / 2;
    }

    private static int ArgMax(double[] values, int start, int width)
    {
        var best = start;
        for (var i = start + 1; i < start + width; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best - start;
    }

    private static double[]? Values(OnnxTensor tensor) => tensor.ElementType switch
    {
        OnnxElementType.Float => tensor.GetData<float>().ToArray().Select(v => (double)v).ToArray(),
        OnnxElementType.Double => tensor.GetData<double>().ToArray(),
        OnnxElementType.Float16 => tensor.GetData<ushort>().ToArray().Select(v => (double)BitConverter.UInt16BitsToHalf(v)).ToArray(),
        _ => null,
    };

    private static readonly string[] SampleWords = ["", "a", "b", "yes", "no", "other"];

    // Batch 1 for symbolic dimensions; values in the ranges models usually take (normalised floats, small indices).
    private static OnnxTensor Sample(OnnxNodeInfo input, Random random)
    {
        var shape = input.Shape.Select(d => d.Value > 0 ? d.Value : 1).ToArray();
        var count = (int)shape.Aggregate(1L, (a, d) => a * d);
        return input.ElementType switch
        {
            OnnxElementType.Float => OnnxTensor.Create(Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray(), shape),
            OnnxElementType.Double => OnnxTensor.Create(Enumerable.Range(0, count).Select(_ => (random.NextDouble() * 2) - 1).ToArray(), shape),
            OnnxElementType.Float16 => OnnxTensor.Create(
                Enumerable.Range(0, count).Select(_ => BitConverter.HalfToUInt16Bits((Half)((random.NextDouble() * 2) - 1))).ToArray().AsMemory(), shape, OnnxElementType.Float16),
            OnnxElementType.Int64 => OnnxTensor.Create(Enumerable.Range(0, count).Select(_ => (long)random.Next(0, 2)).ToArray(), shape),
            OnnxElementType.Int32 => OnnxTensor.Create(Enumerable.Range(0, count).Select(_ => random.Next(0, 2)).ToArray(), shape),
            OnnxElementType.Bool => OnnxTensor.Create(Enumerable.Range(0, count).Select(_ => random.Next(2) == 1).ToArray(), shape),

            // Table models' text columns: a few short words; categories a model does not know take its default path, in both models alike.
            OnnxElementType.String => OnnxTensor.CreateStrings(Enumerable.Range(0, count).Select(_ => SampleWords[random.Next(SampleWords.Length)]).ToArray(), shape),
            _ => throw new NotSupportedException($"input '{input.Name}' is {input.ElementType}; sample inputs are made for float, double, float16, int32, int64, bool and string"),
        };
    }
}
