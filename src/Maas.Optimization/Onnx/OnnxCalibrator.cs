using Google.Protobuf;
using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;
using Maas.Runtimes.Onnx;

namespace Maas.Optimization.Onnx;

/// <summary>
/// Measures activation ranges: runs the float model on ONNX Runtime over calibration inputs, with the activations to
/// quantise added to a copy of the graph as extra outputs, and keeps each one's minimum, maximum and a histogram of
/// absolute values (for the percentile method).
/// </summary>
public static class OnnxCalibrator
{
    /// <summary>
    /// The range of each of <paramref name="tensors"/> over <paramref name="inputs"/> (each one feed of the model's
    /// inputs, disposed here once run), by <paramref name="method"/> at <paramref name="percentile"/>.
    /// </summary>
    /// <exception cref="OnnxRuntimeException">The augmented model does not load or run.</exception>
    public static IReadOnlyDictionary<string, ActivationRange> Collect(
        string modelPath,
        IReadOnlyList<string> tensors,
        IEnumerable<KeyValuePair<string, OnnxTensor>[]> inputs,
        CalibrationMethod method,
        double percentile,
        CancellationToken cancellationToken)
    {
        var graph = OnnxGraph.Load(modelPath);
        var inputNames = graph.Graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var outputNames = graph.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);

        // Activations that are neither inputs (read from the feed) nor outputs already become outputs of the copy.
        foreach (var name in tensors.Where(t => !inputNames.Contains(t) && !outputNames.Contains(t)))
        {
            graph.Graph.Output.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)OnnxElementType.Float } },
            });
        }

        var collectors = tensors.Distinct(StringComparer.Ordinal).ToDictionary(t => t, _ => new RangeCollector(), StringComparer.Ordinal);
        var fetched = tensors.Where(t => !inputNames.Contains(t)).Distinct(StringComparer.Ordinal).ToArray();
        using var options = new OnnxSessionOptions { IntraOpThreads = 1, InterOpThreads = 1 };
        using var session = OnnxSession.FromBytes(graph.Model.ToByteArray(), options);
        foreach (var feed in inputs)
        {
            try
            {
                cancellationToken.ThrowIfCancellationRequested();
                foreach (var (name, tensor) in feed)
                {
                    if (collectors.TryGetValue(name, out var c))
                    {
                        c.Add(tensor.GetData<float>());
                    }
                }

                if (fetched.Length > 0)
                {
                    using var values = session.Run(feed, fetched, cancellationToken: cancellationToken);
                    for (var i = 0; i < fetched.Length; i++)
                    {
                        collectors[fetched[i]].Add(values[i].GetData<float>());
                    }
                }
            }
            finally
            {
                foreach (var (_, tensor) in feed)
                {
                    tensor.Dispose();
                }
            }
        }

        return collectors.ToDictionary(kv => kv.Key, kv => kv.Value.Range(method, percentile), StringComparer.Ordinal);
    }

    /// <summary>
    /// Minimum, maximum and a histogram of absolute values in logarithmic bins (64 per power of two, from 2^-40 to
    /// 2^40): every percentile is found to about 1% of its value, however far the outliers reach.
    /// </summary>
    internal sealed class RangeCollector
    {
        private const int PerOctave = 64;
        private const int MinExponent = -40;
        private const int MaxExponent = 40;
        private const int Bins = ((MaxExponent - MinExponent) * PerOctave) + 1;
        private readonly long[] _bins = new long[Bins];
        private long _count;
        private float _min = float.PositiveInfinity;
        private float _max = float.NegativeInfinity;

        public void Add(ReadOnlySpan<float> values)
        {
            foreach (var v in values)
            {
                if (!float.IsFinite(v))
                {
                    continue; // a NaN or infinity says nothing about the range to quantise to
                }

                _min = Math.Min(_min, v);
                _max = Math.Max(_max, v);
                var a = Math.Abs(v);

                // Bin 0 holds zero and values too small to matter; bin i covers [2^(MinExponent + (i-1)/64), 2^(MinExponent + i/64)).
                var bin = a < Math.Pow(2, MinExponent) ? 0 : 1 + Math.Min((int)((Math.Log2(a) - MinExponent) * PerOctave), Bins - 2);
                _bins[bin]++;
                _count++;
            }
        }

        public ActivationRange Range(CalibrationMethod method, double percentile)
        {
            if (_count == 0)
            {
                return new ActivationRange(0, 0);
            }

            if (method == CalibrationMethod.MinMax)
            {
                return new ActivationRange(_min, _max);
            }

            // The upper edge of the bin where the cumulative count reaches the percentile bounds |x| on both sides.
            var target = (long)Math.Ceiling(_count * percentile / 100);
            long seen = 0;
            var threshold = double.PositiveInfinity;
            for (var i = 0; i < Bins; i++)
            {
                seen += _bins[i];
                if (seen >= target)
                {
                    threshold = Math.Pow(2, MinExponent + ((double)i / PerOctave));
                    break;
                }
            }

            return new ActivationRange(Math.Max(_min, (float)-threshold), Math.Min(_max, (float)threshold));
        }
    }
}
