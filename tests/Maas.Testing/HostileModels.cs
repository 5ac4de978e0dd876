using System.Buffers.Binary;
using Google.Protobuf;
using Maas.Core.Formats.Gguf;
using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Testing;

/// <summary>One hostile model file: what was done to it, the name it is uploaded under, and its bytes.</summary>
public sealed record HostileModel(string Description, string FileName, byte[] Bytes)
{
    /// <inheritdoc />
    public override string ToString() => $"{Description} ({Bytes.Length} bytes)";
}

/// <summary>
/// Model files made to break readers: seeded mutations of valid ONNX and GGUF files (truncations, bit flips, huge
/// counts and lengths, spliced bytes) and hand-made attacks (deep nesting, message floods, external data that
/// climbs out of the model's folder from every tensor container ONNX has). Same seed, same files.
/// </summary>
public static class HostileModels
{
    /// <summary>Where a tensor can sit in an ONNX model; <see cref="Place"/> puts one there.</summary>
    public static IReadOnlyList<string> TensorContainers { get; } =
    [
        "graph initializer",
        "sparse initializer values",
        "sparse initializer indices",
        "node attribute tensor",
        "node attribute tensors",
        "node attribute sparse_tensor",
        "node attribute sparse_tensors",
        "subgraph initializer (g)",
        "subgraph initializer (graphs)",
        "subgraph nested three deep",
        "function body node tensor",
        "function attribute default",
        "function body subgraph",
        "training initialization graph",
        "training algorithm graph",
    ];

    /// <summary>A valid MLP (input "input" [batch, 4], output "output" [batch, 3]) with inline weights.</summary>
    public static ModelProto Mlp(int seed = 1) => OnnxModelWriter.Mlp(4, [8], 3, seed).Producer("maas-tests", "1").Model;

    /// <summary>A valid model with an inline tensor in every container of <see cref="TensorContainers"/>.</summary>
    public static byte[] OnnxWithEveryContainer()
    {
        var model = Mlp();
        var index = 0;
        foreach (var container in TensorContainers)
        {
            Place(model, container, InlineTensor($"t{index++}"));
        }

        return model.ToByteArray();
    }

    /// <summary>A float [4] tensor whose 16 bytes live in <paramref name="location"/> (an external data file).</summary>
    public static TensorProto ExternalTensor(string name, string location, long offset = 0, long length = 16)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)OnnxElementType.Float, DataLocation = TensorProto.Types.DataLocation.External };
        tensor.Dims.Add(4);
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        return tensor;
    }

    /// <summary>A float [4] tensor with its 16 bytes inline.</summary>
    public static TensorProto InlineTensor(string name)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)OnnxElementType.Float, RawData = ByteString.CopyFrom(new byte[16]) };
        tensor.Dims.Add(4);
        return tensor;
    }

    /// <summary>The MLP with <paramref name="tensor"/> placed in <paramref name="container"/>, as file bytes.</summary>
    public static byte[] MlpWith(string container, TensorProto tensor)
    {
        var model = Mlp();
        Place(model, container, tensor);
        return model.ToByteArray();
    }

    /// <summary>Puts <paramref name="tensor"/> into <paramref name="model"/> at <paramref name="container"/> (one of <see cref="TensorContainers"/>).</summary>
    public static void Place(ModelProto model, string container, TensorProto tensor)
    {
        var graph = model.Graph;
        switch (container)
        {
            case "graph initializer":
                graph.Initializer.Add(tensor);
                break;
            case "sparse initializer values":
                graph.SparseInitializer.Add(Sparse(tensor, InlineTensor(tensor.Name + ".indices")));
                break;
            case "sparse initializer indices":
                graph.SparseInitializer.Add(Sparse(InlineTensor(tensor.Name + ".values"), tensor));
                break;
            case "node attribute tensor":
                graph.Node.Add(Node("Constant", new AttributeProto { Name = "value", Type = AttributeType.Tensor, T = tensor }));
                break;
            case "node attribute tensors":
                graph.Node.Add(Node("Custom", new AttributeProto { Name = "values", Type = AttributeType.Tensors, Tensors = { tensor } }));
                break;
            case "node attribute sparse_tensor":
                graph.Node.Add(Node("Constant", new AttributeProto { Name = "sparse_value", Type = AttributeType.SparseTensor, SparseTensor = Sparse(tensor, InlineTensor("i")) }));
                break;
            case "node attribute sparse_tensors":
                graph.Node.Add(Node("Custom", new AttributeProto { Name = "sparse", Type = AttributeType.SparseTensors, SparseTensors = { Sparse(tensor, InlineTensor("i")) } }));
                break;
            case "subgraph initializer (g)":
                graph.Node.Add(Node("If", new AttributeProto { Name = "then_branch", Type = AttributeType.Graph, G = Holding(tensor) }));
                break;
            case "subgraph initializer (graphs)":
                graph.Node.Add(Node("Custom", new AttributeProto
                {
                    Name = "branches",
                    Type = AttributeType.Graphs,
                    Graphs = { new GraphProto { Name = "empty" }, Holding(tensor) }
                }));
                break;
            case "subgraph nested three deep":
                var inner = Holding(tensor);
                for (var level = 0; level < 2; level++)
                {
                    var outer = new GraphProto { Name = $"level{level}" };
                    outer.Node.Add(Node("Loop", new AttributeProto { Name = "body", Type = AttributeType.Graph, G = inner }));
                    inner = outer;
                }

                graph.Node.Add(Node("If", new AttributeProto { Name = "else_branch", Type = AttributeType.Graph, G = inner }));
                break;
            case "function body node tensor":
                model.Functions.Add(Function(Node("Constant", new AttributeProto { Name = "value", Type = AttributeType.Tensor, T = tensor })));
                break;
            case "function attribute default":
                var function = Function(Node("Identity"));
                function.AttributeProto.Add(new AttributeProto { Name = "weights", Type = AttributeType.Tensor, T = tensor });
                model.Functions.Add(function);
                break;
            case "function body subgraph":
                model.Functions.Add(Function(Node("If", new AttributeProto { Name = "then_branch", Type = AttributeType.Graph, G = Holding(tensor) })));
                break;
            case "training initialization graph":
                model.TrainingInfo.Add(new TrainingInfoProto { Initialization = Holding(tensor) });
                break;
            case "training algorithm graph":
                model.TrainingInfo.Add(new TrainingInfoProto { Algorithm = Holding(tensor) });
                break;
            default:
                throw new ArgumentException($"unknown container '{container}'", nameof(container));
        }
    }

    /// <summary>
    /// The corpus: mutations of a plain MLP, of a model with every tensor container, and of a small Llama GGUF, plus
    /// hand-made attacks; about <paramref name="perBase"/> mutations of each base.
    /// </summary>
    public static IReadOnlyList<HostileModel> Corpus(int seed = 12, int perBase = 100)
    {
        var random = new Random(seed);
        var corpus = new List<HostileModel>();
        var bases = new (string Name, string File, byte[] Bytes, bool Gguf)[]
        {
            ("mlp", "model.onnx", Mlp().ToByteArray(), false),
            ("every-container", "model.onnx", OnnxWithEveryContainer(), false),
            ("llama", "model.gguf", SmallGguf(), true),
        };
        foreach (var (name, file, bytes, gguf) in bases)
        {
            corpus.Add(new HostileModel($"{name} unchanged", file, bytes));
            for (var i = 0; i < perBase; i++)
            {
                var (what, mutated) = Mutate(bytes, gguf, random);
                corpus.Add(new HostileModel($"{name} {what}", file, mutated));
            }
        }

        corpus.AddRange(Crafted());
        return corpus;
    }

    /// <summary>The hand-made attacks alone (the end of <see cref="Corpus"/>).</summary>
    public static IReadOnlyList<HostileModel> Crafted() => [.. CraftedOnnx(), .. CraftedGguf()];

    /// <summary>A small random-weight Llama GGUF (tens of KB).</summary>
    public static byte[] SmallGguf()
    {
        using var buffer = new MemoryStream();
        GgufLlamaModelFactory.Write(buffer, new GgufLlamaModelOptions
        {
            EmbeddingLength = 16,
            BlockCount = 1,
            HeadCount = 2,
            KeyValueHeadCount = 2,
            FeedForwardLength = 32,
            ContextLength = 64,
            VocabularySize = 280,
            Seed = 7,
        });
        return buffer.ToArray();
    }

    private static (string What, byte[] Bytes) Mutate(byte[] original, bool gguf, Random random)
    {
        var bytes = (byte[])original.Clone();
        // Most header bytes of a GGUF sit before its tensor data; aim half of the damage there.
        var headerEnd = gguf ? Math.Min(bytes.Length, 8192) : bytes.Length;
        int Position() => random.Next(2) == 0 ? random.Next(headerEnd) : random.Next(bytes.Length);
        switch (random.Next(5))
        {
            case 0:
                var keep = random.Next(3) == 0 ? random.Next(Math.Min(64, bytes.Length)) : Position();
                return ($"truncated to {keep} bytes", bytes[..keep]);
            case 1:
                var flips = 1 + random.Next(6);
                var where = new List<int>();
                for (var i = 0; i < flips; i++)
                {
                    var at = Position();
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    where.Add(at);
                }

                return ($"bits flipped at {string.Join(",", where)}", bytes);
            case 2:
                // A huge count or length: an all-ones varint (protobuf) or a large little-endian 64-bit value (GGUF).
                var huge = Position() & ~7;
                var value = random.Next(3) switch { 0 => ulong.MaxValue, 1 => (ulong)long.MaxValue, _ => 1UL << random.Next(20, 62) };
                Span<byte> field = stackalloc byte[10];
                var length = gguf ? 8 : WriteVarint(field, value);
                if (gguf)
                {
                    BinaryPrimitives.WriteUInt64LittleEndian(field, value);
                }

                field[..Math.Min(length, bytes.Length - huge)].CopyTo(bytes.AsSpan(huge));
                return ($"huge value {value} written at {huge}", bytes);
            case 3:
                var from = Position();
                var count = Math.Min(bytes.Length - from, 1 + random.Next(256));
                var to = Position();
                var spliced = bytes[..to].Concat(bytes.AsSpan(from, count).ToArray()).Concat(bytes[to..]).ToArray();
                return ($"{count} bytes from {from} repeated at {to}", spliced);
            default:
                var start = Position();
                var run = Math.Min(bytes.Length - start, 1 + random.Next(32));
                var fill = (byte)(random.Next(2) == 0 ? 0xFF : 0x00);
                bytes.AsSpan(start, run).Fill(fill);
                return ($"{run} bytes at {start} set to 0x{fill:X2}", bytes);
        }
    }

    private static IEnumerable<HostileModel> CraftedOnnx()
    {
        // Subgraphs nested far deeper than any real model: the reader must stop, not recurse until the stack ends.
        var deep = new GraphProto { Name = "bottom" };
        for (var i = 0; i < 400; i++)
        {
            var outer = new GraphProto { Name = "g" };
            outer.Node.Add(Node("If", new AttributeProto { Name = "then_branch", Type = AttributeType.Graph, G = deep }));
            deep = outer;
        }

        var nested = Mlp();
        nested.Graph.Node.Add(Node("If", new AttributeProto { Name = "then_branch", Type = AttributeType.Graph, G = deep }));
        yield return new HostileModel("subgraphs nested 400 deep", "model.onnx", nested.ToByteArray());

        // A flood of empty messages: two bytes each in the file, hundreds of bytes each if a parser builds objects.
        var flooded = Mlp();
        var graph = new List<byte>(flooded.Graph.ToByteArray());
        flooded.Graph = null;
        for (var i = 0; i < 100_000; i++)
        {
            graph.AddRange([0x0A, 0x00]); // GraphProto.node = {}
            graph.AddRange([0x2A, 0x00]); // GraphProto.initializer = {}
        }

        yield return new HostileModel("100000 empty nodes and initializers", "model.onnx", [.. flooded.ToByteArray(), .. Field(7, [.. graph])]);
        yield return new HostileModel("the graph field twice", "model.onnx", [.. Mlp().ToByteArray(), .. Field(7, Mlp(2).Graph.ToByteArray())]);

        var manyInputs = Mlp();
        for (var i = 0; i < MaxGraphValues + 1; i++)
        {
            manyInputs.Graph.Input.Add(new ValueInfoProto());
        }

        yield return new HostileModel("more graph inputs than allowed", "model.onnx", manyInputs.ToByteArray());

        var hugeShape = InlineTensor("huge");
        hugeShape.Dims.Clear();
        hugeShape.Dims.Add([1L << 40, 1L << 40, 1L << 40]);
        yield return new HostileModel("initializer with an overflowing shape", "model.onnx", MlpWith("sparse initializer values", hugeShape));

        var negative = InlineTensor("negative");
        negative.Dims.Add(-5);
        yield return new HostileModel("initializer with a negative dimension", "model.onnx", MlpWith("function body node tensor", negative));

        var shortData = InlineTensor("short");
        shortData.Dims[0] = 1000;
        yield return new HostileModel("inline tensor shorter than its shape", "model.onnx", MlpWith("subgraph nested three deep", shortData));

        yield return new HostileModel("external data offset at the end of long", "model.onnx", MlpWith("graph initializer", ExternalTensor("w", "w.bin", long.MaxValue)));
        yield return new HostileModel("external data with a negative length", "model.onnx", MlpWith("graph initializer", ExternalTensor("w", "w.bin", 0, -16)));
        var twice = ExternalTensor("w", "w.bin");
        twice.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "../other.bin" });
        yield return new HostileModel("external data naming two locations", "model.onnx", MlpWith("training algorithm graph", twice));
        yield return new HostileModel("external data at ONNX Runtime's memory marker", "model.onnx",
            MlpWith("node attribute tensors", ExternalTensor("w", "*/_ORT_MEM_ADDR_/*", 4096)));
        yield return new HostileModel("external data with a NUL in its path", "model.onnx", MlpWith("function attribute default", ExternalTensor("w", "w.bin\0../../etc/passwd")));
        foreach (var container in TensorContainers)
        {
            yield return new HostileModel($"{container} reading ../escape.bin", "model.onnx", MlpWith(container, ExternalTensor("w", "../escape.bin")));
            yield return new HostileModel($"{container} reading /etc/passwd", "model.onnx", MlpWith(container, ExternalTensor("w", "/etc/passwd", 0, 4)));
        }

        yield return new HostileModel("a length past the end of the file", "model.onnx", [0x08, 0x08, 0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0x07]);
        yield return new HostileModel("a varint longer than ten bytes", "model.onnx", [0x08, 0x08, 0x28, .. Enumerable.Repeat((byte)0xFF, 16), 0x01]);
        yield return new HostileModel("a group wire type", "model.onnx", [0x08, 0x08, 0x3B, 0x3C]);
        yield return new HostileModel("field number zero", "model.onnx", [0x08, 0x08, 0x02, 0x00]);
    }

    // The reader's cap on graph inputs (OnnxModelScanner.MaxGraphValues, internal to Maas.Core).
    private const int MaxGraphValues = 65536;

    private static IEnumerable<HostileModel> CraftedGguf()
    {
        var good = SmallGguf();
        HostileModel At(string what, int offset, ulong value)
        {
            var bytes = (byte[])good.Clone();
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(offset), value);
            return new HostileModel(what, "model.gguf", bytes);
        }

        yield return At("GGUF tensor count of 2^62", 8, 1UL << 62);
        yield return At("GGUF key/value count of 2^40", 16, 1UL << 40);
        yield return At("GGUF first key length of 2^63-1", 24, long.MaxValue);
        yield return new HostileModel("GGUF magic only", "model.gguf", "GGUF"u8.ToArray());
        yield return new HostileModel("GGUF version 1", "model.gguf", [.. "GGUF"u8, 1, 0, 0, 0, .. new byte[16]]);

        // A metadata array claiming 2^40 strings in a tiny file, and one nesting arrays.
        var header = new List<byte>();
        header.AddRange("GGUF"u8.ToArray());
        header.AddRange(BitConverter.GetBytes(3u));
        header.AddRange(BitConverter.GetBytes(0L));
        header.AddRange(BitConverter.GetBytes(1L));
        header.AddRange(BitConverter.GetBytes(3L));
        header.AddRange("a.b"u8.ToArray());
        var arrayHeader = header.ToList();
        arrayHeader.AddRange(BitConverter.GetBytes(9u)); // array
        arrayHeader.AddRange(BitConverter.GetBytes(8u)); // of strings
        arrayHeader.AddRange(BitConverter.GetBytes(1UL << 40));
        yield return new HostileModel("GGUF array of 2^40 strings", "model.gguf", [.. arrayHeader, .. new byte[64]]);
        var nestedArray = header.ToList();
        nestedArray.AddRange(BitConverter.GetBytes(9u));
        nestedArray.AddRange(BitConverter.GetBytes(9u));
        nestedArray.AddRange(BitConverter.GetBytes(2UL));
        yield return new HostileModel("GGUF array of arrays", "model.gguf", [.. nestedArray, .. new byte[64]]);
        yield return new HostileModel("GGUF with fewer token scores than tokens", "model.gguf", GgufWithScores(GgufValue.From([0f, 1f])));
        yield return new HostileModel("GGUF with token scores as strings", "model.gguf", GgufWithScores(GgufValue.From(["x", "y", "z"])));
    }

    private static byte[] GgufWithScores(GgufValue scores)
    {
        using var buffer = new MemoryStream();
        using (var writer = new GgufWriter(buffer, leaveOpen: true))
        {
            writer.Add("general.architecture", "llama");
            writer.Add("tokenizer.ggml.tokens", GgufValue.From(["a", "b", "c"]));
            writer.Add("tokenizer.ggml.scores", scores);
            writer.WriteHeader();
            writer.Finish();
        }

        return buffer.ToArray();
    }

    private static SparseTensorProto Sparse(TensorProto values, TensorProto indices)
    {
        var sparse = new SparseTensorProto { Values = values, Indices = indices };
        sparse.Dims.Add(4);
        return sparse;
    }

    private static GraphProto Holding(TensorProto tensor)
    {
        var graph = new GraphProto { Name = "branch" };
        graph.Initializer.Add(tensor);
        graph.Output.Add(new ValueInfoProto { Name = tensor.Name });
        return graph;
    }

    private static FunctionProto Function(NodeProto node)
    {
        var function = new FunctionProto { Name = "f", Domain = "custom.hostile" };
        function.Node.Add(node);
        return function;
    }

    private static NodeProto Node(string op, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = op.ToLowerInvariant() + "_node" };
        node.Output.Add(op.ToLowerInvariant() + "_out");
        node.Attribute.Add(attributes);
        return node;
    }

    private static byte[] Field(int number, byte[] content)
    {
        Span<byte> prefix = stackalloc byte[20];
        var used = WriteVarint(prefix, (ulong)(number << 3 | 2));
        used += WriteVarint(prefix[used..], (ulong)content.Length);
        return [.. prefix[..used], .. content];
    }

    private static int WriteVarint(Span<byte> destination, ulong value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[i++] = (byte)value;
        return i;
    }
}
