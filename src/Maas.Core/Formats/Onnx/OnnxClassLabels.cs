namespace Maas.Core.Formats.Onnx;

/// <summary>
/// The class labels an ONNX model carries for its outputs: the classes an ONNX-ML classifier (<c>LinearClassifier</c>,
/// <c>TreeEnsembleClassifier</c>, <c>SVMClassifier</c>) names for its scores, or a <c>ZipMap</c> for the scores it
/// reads (and the map it makes, served as a tensor: <see cref="ZipMapColumns"/>), followed through ops that keep the scores' columns (<c>Identity</c>, <c>Cast</c>, <c>Softmax</c>,
/// <c>Normalizer</c>) to a graph output. An output reached from two different lists of labels gets none.
/// </summary>
internal static class OnnxClassLabels
{
    /// <summary>The ONNX-ML operator domain.</summary>
    public const string MlDomain = "ai.onnx.ml";

    /// <summary>The most classifier and <c>ZipMap</c> nodes of one model kept.</summary>
    public const int MaxClassifierNodes = 1024;

    /// <summary>The most nodes of one model kept that scores may pass through (<c>Identity</c>, <c>Cast</c>, ...).</summary>
    public const int MaxPassThroughNodes = 4096;

    /// <summary>The most labels one node may name for them to be kept.</summary>
    public const int MaxLabels = 65_536;

    /// <summary>The longest label kept, in UTF-8 bytes; a node with a longer one keeps none.</summary>
    public const int MaxLabelBytes = 4096;

    /// <summary>The most memory the labels of one model may take, counted as their UTF-8 bytes plus <see cref="LabelOverheadBytes"/> each.</summary>
    public const long MaxTotalLabelBytes = 4L << 20;

    /// <summary>What a label costs beyond its bytes (the string object), for <see cref="MaxTotalLabelBytes"/>.</summary>
    public const int LabelOverheadBytes = 32;

    /// <summary>Labels by graph output name; empty when the model carries none unambiguously.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> Resolve(IReadOnlyList<OnnxLabelNode> nodes, IEnumerable<string> graphOutputs)
    {
        var byTensor = new Dictionary<string, IReadOnlyList<string>?>(StringComparer.Ordinal); // null: ambiguous
        foreach (var node in nodes)
        {
            if (node.Labels is not { } labels)
            {
                continue;
            }

            if (node.OpType == "ZipMap")
            {
                Assign(byTensor, node.Input, labels); // the map's keys name the columns of the scores it reads
                // served as columns in key order
                Assign(byTensor, node.Outputs[0], node.IntegerLabels ? ZipMapColumns.Labels(ZipMapColumns.Order(labels.Select(long.Parse))) : ZipMapColumns.Order(labels));
            }
            else if (node.OpType is "LinearClassifier" or "TreeEnsembleClassifier" or "SVMClassifier" && node.Outputs.Count > 1)
            {
                Assign(byTensor, node.Outputs[1], labels);
            }
        }

        // Nodes come in graph (topological) order, so one pass carries labels down every chain of pass-through ops.
        foreach (var node in nodes)
        {
            if (node.OpType is "Identity" or "Cast" or "Softmax" or "Normalizer"
                && byTensor.TryGetValue(node.Input, out var labels) && node.Outputs[0].Length > 0)
            {
                if (labels is null)
                {
                    byTensor[node.Outputs[0]] = null;
                }
                else
                {
                    Assign(byTensor, node.Outputs[0], labels);
                }
            }
        }

        var result = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var output in graphOutputs)
        {
            if (byTensor.TryGetValue(output, out var labels) && labels is not null)
            {
                result[output] = labels;
            }
        }

        return result;
    }

    private static void Assign(Dictionary<string, IReadOnlyList<string>?> byTensor, string tensor, IReadOnlyList<string> labels)
    {
        if (tensor.Length == 0)
        {
            return;
        }

        if (!byTensor.TryGetValue(tensor, out var existing))
        {
            byTensor[tensor] = labels;
        }
        else if (existing is not null && !existing.SequenceEqual(labels, StringComparer.Ordinal))
        {
            byTensor[tensor] = null;
        }
    }
}
