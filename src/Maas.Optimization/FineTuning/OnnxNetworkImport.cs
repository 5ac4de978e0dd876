using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;
using Maas.Core.Training;
using Maas.Optimization.Onnx;
using Maas.Runtimes.Ggml;

namespace Maas.Optimization.FineTuning;

/// <summary>
/// Reads the ONNX form the ggml trainer exports (<see cref="NetworkOnnx"/>: one image input [N, C, H, W], a chain of
/// Conv, MaxPool/AveragePool, Flatten, Gemm, BatchNormalization, LayerNormalization, Relu, Sigmoid, Tanh, GELU and
/// Identity nodes ending at the logits, then a Softmax) back into layers and weights, so ggml can train on from the
/// weights a rewrite left (a pruned one has fewer units: the sizes come from the weights, not from the lineage).
/// </summary>
/// <remarks>
/// GELU is read as the <c>Gelu</c> operator (opset 20, <c>approximate</c> none or tanh; or <c>com.microsoft</c>
/// Gelu and FastGelu without a bias) or written out in elementwise nodes (<see cref="OnnxGeluBlock"/>). ggml trains
/// the tanh form only, so an erf GELU becomes the tanh form (at most 4.7e-4 apart per value; the fine-tune trains
/// the weights with it, and the result is exported with it). Dropout is the identity it is at inference and is not
/// applied while fine-tuning: the trainer's own export writes dropout as Identity with no rate, so networks MaaS
/// trained fine-tune without it anyway, and a short fine-tune from trained weights of a layer pruning made narrower
/// has little to gain from dropping a share of what is left.
/// </remarks>
public static class OnnxNetworkImport
{
    // The operators the import reads (beside GELU written out in elementwise nodes).
    private static readonly string[] Supported =
    [
        "Gemm", "Conv", "MaxPool", "AveragePool", "Flatten", "BatchNormalization", "LayerNormalization",
        "Relu", "Sigmoid", "Tanh", "Gelu", "FastGelu", "Dropout", "Identity", "Softmax",
    ];

    /// <summary>The network of <paramref name="graph"/>, or throws <see cref="NetworkImportException"/> naming what does not fit.</summary>
    public static ImportedNetwork Read(OnnxGraph graph)
    {
        var g = graph.Graph;
        if (g.Input.Count != 1 || g.Input[0].Type?.TensorType is not { } inputType || inputType.ElemType != (int)OnnxElementType.Float || inputType.Shape?.Dim.Count != 4
            || inputType.Shape.Dim.Skip(1).Any(d => d.DimValue <= 0))
        {
            throw new NetworkImportException("the model must have one float image input [N, channels, height, width] of fixed size");
        }

        var input = new NetworkShape(inputType.Shape.Dim.Skip(1).Select(d => checked((int)d.DimValue)).ToArray());
        var chain = new ChainReader(graph, input);
        var current = g.Input[0].Name;
        string? probabilities = null;
        for (var n = 0; n < g.Node.Count; n++)
        {
            var node = g.Node[n];
            if (probabilities is not null)
            {
                throw Unreadable(node, "comes after the Softmax that ends the network");
            }

            if (OnnxGeluBlock.Find(graph, n, current) is { } written)
            {
                chain.Add("gelu");
                if (written.Form == OnnxGeluBlock.Form.Erf)
                {
                    chain.Notes.Add(ErfNote($"GELU written out in nodes '{node.Name}' to '{g.Node[written.Last].Name}'"));
                }

                current = written.Output;
                n = written.Last;
                continue;
            }

            CheckLink(node, current);
            if (node.OpType == "Softmax")
            {
                probabilities = node.Output[0];
                continue;
            }

            chain.Read(node);
            current = node.Output[0];
        }

        if (chain.Layers.Count == 0 || chain.Layers[^1].Type != "dense" || g.Output.All(o => o.Name != current))
        {
            throw new NetworkImportException("the chain of layers must end with a dense layer whose output (the class scores) is a graph output");
        }

        return new ImportedNetwork(chain.Layers, input, chain.Units, new GgmlWeights(chain.Weights), g.Input[0].Name, current, chain.Notes);
    }

    // A node the trainer builds, taking the chain's current value as its first input.
    private static void CheckLink(NodeProto node, string current)
    {
        var contrib = node.Domain == "com.microsoft" && node.OpType is "Gelu" or "FastGelu";
        if (node.Domain is not ("" or "ai.onnx") && !contrib)
        {
            throw Unreadable(node, $"is an operator of domain '{node.Domain}', which the ggml trainer does not build");
        }

        if (!Supported.Contains(node.OpType))
        {
            throw Unreadable(node, $"is a {node.OpType}, which the ggml trainer does not build (it reads {string.Join(", ", Supported)})");
        }

        if (node.Input.Count == 0 || node.Input[0] != current)
        {
            throw Unreadable(node, "is not the next step of a chain of layers");
        }
    }

    // The layers read so far, their weights, the shape of the value between them and the notes on approximations.
    private sealed class ChainReader(OnnxGraph graph, NetworkShape input)
    {
        private NetworkShape _shape = input;

        public List<NetworkLayer> Layers { get; } = [];

        public Dictionary<int, IReadOnlyList<float[]>> Weights { get; } = [];

        public List<string> Notes { get; } = [];

        // The units of the last dense layer: the classes, once the chain ends.
        public int Units { get; private set; }

        public void Add(string type) => Layers.Add(new NetworkLayer { Type = type });

        public void Read(NodeProto node)
        {
            switch (node.OpType)
            {
                case "Gemm":
                    Gemm(node);
                    break;
                case "Conv":
                    Conv(node);
                    break;
                case "MaxPool" or "AveragePool":
                    Pool(node);
                    break;
                case "Flatten":
                    if (OnnxGraph.Int(node, "axis", 1) != 1)
                    {
                        throw Unreadable(node, "must flatten from axis 1");
                    }

                    Add("flatten");
                    _shape = new NetworkShape([checked((int)_shape.Size)]);
                    break;
                case "BatchNormalization":
                    {
                        var channels = _shape.Dims[0];
                        Weights[Layers.Count] = [Weight(node, 1, channels), Weight(node, 2, channels), Weight(node, 3, channels), Weight(node, 4, channels)];
                        RequireEpsilon(node);
                        Add("batch_norm");
                        break;
                    }

                case "LayerNormalization":
                    {
                        var all = _shape.Dims.Select(d => (long)d).ToArray();
                        if (OnnxGraph.Int(node, "axis", -1) != 1)
                        {
                            throw Unreadable(node, "must normalise over the whole example (axis 1)");
                        }

                        Weights[Layers.Count] = [Weight(node, 1, all), Weight(node, 2, all)];
                        RequireEpsilon(node);
                        Add("layer_norm");
                        break;
                    }

                case "Relu" or "Sigmoid" or "Tanh":
                    Add(node.OpType.ToLowerInvariant());
                    break;
                case "Gelu" or "FastGelu":
                    Gelu(node);
                    break;
                case "Dropout":
                    Dropout(node);
                    break;
            }
        }

        private void Gemm(NodeProto node)
        {
            if (!_shape.Flat || OnnxGraph.Int(node, "transA", 0) != 0 || OnnxGraph.Float(node, "alpha", 1) != 1 || OnnxGraph.Float(node, "beta", 1) != 1)
            {
                throw Unreadable(node, "must be a plain dense layer on flat features (transA 0, alpha and beta 1)");
            }

            var transposed = OnnxGraph.Int(node, "transB", 0) != 0;
            var tensor = graph.Constant(node.Input[1]) ?? throw Unreadable(node, "has no constant weight");
            var units = checked((int)tensor.Dims[transposed ? 0 : 1]);
            var w = Weight(node, 1, transposed ? new long[] { units, _shape.Size } : new long[] { _shape.Size, units });
            var b = node.Input.Count > 2 && node.Input[2].Length > 0 ? Weight(node, 2, units) : new float[units];
            Weights[Layers.Count] = [transposed ? w : Transpose(w, (int)_shape.Size, units), b];
            Layers.Add(new NetworkLayer { Type = "dense", Units = units });
            Units = units;
            _shape = new NetworkShape([units]);
        }

        private void Conv(NodeProto node)
        {
            var kernel = Ints(node, "kernel_shape");
            var strides = Ints(node, "strides");
            var pads = Ints(node, "pads");
            if (_shape.Flat || kernel is not [var k, var k2] || k != k2 || OnnxGraph.Int(node, "group", 1) != 1 || Ints(node, "dilations") is not ([] or [1, 1])
                || strides is not ([] or [_, _]) || (strides is [var s1, var s2] && s1 != s2) || pads is not ([] or [_, _, _,
                    _]) || (pads.Length == 4 && pads.Distinct().Count() != 1))
            {
                throw Unreadable(node, "must be a square convolution with equal strides and padding, one group, no dilation");
            }

            var tensor = graph.Constant(node.Input[1]) ?? throw Unreadable(node, "has no constant weight");
            var filters = checked((int)tensor.Dims[0]);
            var (stride, padding) = ((int)(strides.Length == 0 ? 1 : strides[0]), (int)(pads.Length == 0 ? 0 : pads[0]));
            var w = Weight(node, 1, filters, _shape.Dims[0], k, k);
            var b = node.Input.Count > 2 && node.Input[2].Length > 0 ? Weight(node, 2, filters) : new float[filters];
            Weights[Layers.Count] = [w, b];
            Layers.Add(new NetworkLayer { Type = "conv2d", Filters = filters, Kernel = (int)k, Stride = stride, Padding = padding });
            _shape = new NetworkShape([filters, ((_shape.Dims[1] + (2 * padding) - (int)k) / stride) + 1, ((_shape.Dims[2] + (2 * padding) - (int)k) / stride) + 1]);
        }

        private void Pool(NodeProto node)
        {
            var kernel = Ints(node, "kernel_shape");
            var strides = Ints(node, "strides");
            if (_shape.Flat || kernel is not [var k,
                var k2] || k != k2 || (strides.Length > 0 && (strides.Length != 2 || strides[0] != strides[1])) || Ints(node, "pads").Any(p => p != 0))
            {
                throw Unreadable(node, "must be a square pooling window with equal strides and no padding");
            }

            var stride = (int)(strides.Length == 0 ? 1 : strides[0]);
            Layers.Add(new NetworkLayer { Type = node.OpType == "MaxPool" ? "max_pool" : "avg_pool", Kernel = (int)k, Stride = stride });
            _shape = new NetworkShape([_shape.Dims[0], ((_shape.Dims[1] - (int)k) / stride) + 1, ((_shape.Dims[2] - (int)k) / stride) + 1]);
        }

        private void Gelu(NodeProto node)
        {
            var contrib = node.Domain == "com.microsoft";
            var approximate = node.Attribute.FirstOrDefault(a => a.Name == "approximate")?.S.ToStringUtf8() ?? "none";
            if (approximate is not ("none" or "tanh") || (node.OpType == "FastGelu" && !contrib) || node.Input.Skip(1).Any(i => i.Length > 0))
            {
                throw Unreadable(node, "must be a GELU of its one input (approximate none or tanh, no bias; FastGelu in the com.microsoft domain)");
            }

            Add("gelu");
            if (node.OpType == "Gelu" && approximate == "none")
            {
                Notes.Add(ErfNote($"node '{node.Name}' ({node.OpType})"));
            }
        }

        private void Dropout(NodeProto node)
        {
            // At inference Dropout passes its input through; a graph that reads its mask or runs it in training mode
            // computes something else.
            var mask = node.Output.Count > 1 ? node.Output[1] : "";
            if (mask.Length > 0 && (graph.Consumers(mask) > 0 || graph.Graph.Output.Any(o => o.Name == mask)))
            {
                throw Unreadable(node, "has its mask output read; only a Dropout whose mask nothing reads is the identity");
            }

            if ((node.Input.Count > 2 && node.Input[2].Length > 0 && !OnnxGraph.IsConstantFalse(graph.Constant(node.Input[2]))) || OnnxGraph.Int(node, "is_test", 1) == 0)
            {
                throw Unreadable(node, "must not run in training mode (training_mode absent or a constant false), where it drops values at random");
            }

            var ratio = node.Input.Count > 1 && node.Input[1].Length > 0
                ? graph.Constant(node.Input[1]) is { DataType: (int)OnnxElementType.Float } r && OnnxGraph.Count(r) == 1 ? OnnxGraph.Floats(r)[0] : (float?)null
                : OnnxGraph.Float(node, "ratio", 0.5f);
            Notes.Add($"node '{node.Name}' (Dropout{(ratio is { } v ? $", ratio {v.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : "")}) is the identity, as at " +
                $"inference; the fine-tune does not apply it");
        }

        private float[] Weight(NodeProto node, int index, params long[] expected)
        {
            var tensor = node.Input.Count > index ? graph.Constant(node.Input[index]) : null;
            if (tensor is null || tensor.DataType != (int)OnnxElementType.Float || !tensor.Dims.SequenceEqual(expected))
            {
                throw Unreadable(node, $"input {index} must be a float constant of shape [{string.Join(", ", expected)}]");
            }

            return OnnxGraph.Floats(tensor);
        }

        private static void RequireEpsilon(NodeProto node)
        {
            // ggml normalises with an epsilon of 1e-5; another would change what the network computes.
            if (Math.Abs(OnnxGraph.Float(node, "epsilon", 1e-5f) - 1e-5f) > 1e-9f)
            {
                throw Unreadable(node, "must use epsilon 1e-5 (ggml's)");
            }
        }
    }

    private static string ErfNote(string what) =>
        $"{what} is the exact (erf) GELU; ggml trains and exports the tanh form, at most 4.7e-4 apart per value";

    private static long[] Ints(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.Ints.ToArray() ?? [];

    private static NetworkImportException Unreadable(NodeProto node, string why) => new($"node '{node.Name}' ({node.OpType}) {why}");

    private static float[] Transpose(float[] values, int rows, int columns)
    {
        var result = new float[values.Length];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                result[(c * rows) + r] = values[(r * columns) + c];
            }
        }

        return result;
    }
}
