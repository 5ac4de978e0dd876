using System.Globalization;
using System.Text;

namespace Maas.Core.Formats.Onnx;

/// <summary>
/// Walks an ONNX protobuf field by field without building it, checking every tensor container ONNX Runtime reads:
/// graph initializers and sparse initializers, tensors and graphs inside node attributes of every kind, function
/// bodies and training graphs, at any depth. Keeps only what the model's description needs.
/// </summary>
/// <remarks>
/// Every length is checked against its enclosing message before anything is read, and nothing is allocated per
/// field except the strings the description keeps, so a hostile file costs at most a small multiple of its size.
/// </remarks>
internal sealed class OnnxModelScanner
{
    /// <summary>How deep messages may nest (a subgraph costs three levels: attribute, graph, node).</summary>
    public const int MaxDepth = 64;

    /// <summary>Most inputs, and most outputs, the main graph may declare (old models list every weight as an input).</summary>
    public const int MaxGraphValues = 65536;

    /// <summary>Most operator set imports a model may have.</summary>
    public const int MaxOpsets = 1024;

    // Longer values are not kept (doc strings) or refused (external data entries): no real model comes near them.
    private const int MaxKeptString = 64 * 1024;
    private const int MaxExternalDataEntry = 4096;

    // ONNX Runtime's marker for in-memory external data: in a file it would make the runtime read process memory.
    private const string RuntimeMemoryMarker = "*/_ORT_MEM_ADDR_/*";

    private readonly Cursor _cursor;
    private readonly string? _directory;
    private readonly Dictionary<string, long> _fileSizes = new(StringComparer.Ordinal);
    private readonly HashSet<string> _externalFileSet = new(StringComparer.Ordinal);
    private int _depth;
    private string _entryKey = "";
    private string _entryValue = "";

    private enum Kind
    {
        MainGraph,
        Graph,
        Node,
        MainNode,
        Attribute,
        MainNodeAttribute,
        Function,
        TrainingInfo,
        Tensor,
        SparseTensor,
        Opset,
        Metadata,
        ExternalEntry,
    }

    private OnnxModelScanner(Stream stream, string? directory)
    {
        _cursor = new Cursor(stream);
        _directory = directory;
    }

    public long IrVersion { get; private set; }

    public bool HasIrVersion { get; private set; }

    public string ProducerName { get; private set; } = "";

    public string ProducerVersion { get; private set; } = "";

    public string Domain { get; private set; } = "";

    public long ModelVersion { get; private set; }

    public string DocString { get; private set; } = "";

    public bool HasGraph { get; private set; }

    public bool HasAnyField { get; private set; }

    public string GraphName { get; private set; } = "";

    public List<OnnxOpset> Opsets { get; } = [];

    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    /// <summary>The main graph's inputs and outputs as raw ValueInfoProto bytes, parsed by the caller.</summary>
    public List<byte[]> Inputs { get; } = [];

    public List<byte[]> Outputs { get; } = [];

    public HashSet<string> InitializerNames { get; } = new(StringComparer.Ordinal);

    public int InitializerCount { get; private set; }

    public List<string> ExternalFiles { get; } = [];

    /// <summary>
    /// The main graph's nodes that matter for class labels (ONNX-ML classifiers and <c>ZipMap</c>, and the ops scores
    /// pass through unchanged in width), in graph order; see <see cref="OnnxClassLabels"/>.
    /// </summary>
    public List<OnnxLabelNode> LabelNodes { get; } = [];

    // The main-graph node being read: its op, domain, first input and first two outputs as bytes (made strings only
    // for a node kept), and the labels it names. Reused from node to node, so a node not kept allocates nothing.
    private readonly NameBytes _op = new(), _domain = new(), _input = new(), _output0 = new(), _output1 = new(), _attributeName = new();
    private IReadOnlyList<string>? _nodeLabels;
    private bool _nodeLabelsUnusable;
    private bool _nodeLabelsIntegers;
    private long _labelBytes;
    private int _keptClassifiers;
    private int _keptPassThrough;

    /// <summary>Scans the model in <paramref name="stream"/>; external data files are checked in <paramref name="directory"/> when given.</summary>
    /// <exception cref="InvalidModelFileException">The model is malformed or a tensor is unusable; the message says why.</exception>
    public static OnnxModelScanner Scan(Stream stream, string? directory)
    {
        var scanner = new OnnxModelScanner(stream, directory);
        scanner.Model(scanner._cursor.Length);
        return scanner;
    }

    private void Model(long end)
    {
        var graphSeen = false;
        while (_cursor.Position < end)
        {
            HasAnyField = true;
            var (field, wire) = Tag(end);
            switch (field, wire)
            {
                case (1, 0):
                    IrVersion = (long)_cursor.ReadVarint(end);
                    HasIrVersion = true;
                    break;
                case (2, 2):
                    ProducerName = KeptString(end);
                    break;
                case (3, 2):
                    ProducerVersion = KeptString(end);
                    break;
                case (4, 2):
                    Domain = KeptString(end);
                    break;
                case (5, 0):
                    ModelVersion = (long)_cursor.ReadVarint(end);
                    break;
                case (6, 2):
                    DocString = KeptString(end);
                    break;
                case (7, 2):
                    Once(ref graphSeen, "the model's graph");
                    HasGraph = true;
                    Nested(end, Kind.MainGraph);
                    break;
                case (8, 2):
                    Nested(end, Kind.Opset);
                    break;
                case (14, 2):
                    Nested(end, Kind.Metadata);
                    Metadata[_entryKey] = _entryValue;
                    break;
                case (20, 2):
                    Nested(end, Kind.TrainingInfo);
                    break;
                case (25, 2):
                    Nested(end, Kind.Function);
                    break;
                default:
                    Skip(wire, end);
                    break;
            }
        }
    }

    private void Graph(long end, bool main, string initializerLabel)
    {
        while (_cursor.Position < end)
        {
            var (field, wire) = Tag(end);
            switch (field, wire)
            {
                case (1, 2):
                    Nested(end, main ? Kind.MainNode : Kind.Node);
                    break;
                case (2, 2) when main:
                    GraphName = KeptString(end);
                    break;
                case (5, 2):
                    var name = Nested(end, Kind.Tensor, initializerLabel);
                    if (main)
                    {
                        InitializerNames.Add(name);
                        InitializerCount++;
                    }

                    break;
                case (15, 2):
                    var sparse = Nested(end, Kind.SparseTensor, "sparse initializer");
                    if (main)
                    {
                        InitializerNames.Add(sparse);
                        InitializerCount++;
                    }

                    break;
                case (11, 2) when main:
                    Inputs.Add(GraphValue(end, Inputs.Count, "inputs"));
                    break;
                case (12, 2) when main:
                    Outputs.Add(GraphValue(end, Outputs.Count, "outputs"));
                    break;
                default:
                    Skip(wire, end);
                    break;
            }
        }
    }

    private void Node(long end)
    {
        while (_cursor.Position < end)
        {
            var (field, wire) = Tag(end);
            if ((field, wire) == (5, 2))
            {
                Nested(end, Kind.Attribute);
            }
            else
            {
                Skip(wire, end);
            }
        }
    }

    // A node of the main graph: read as any node, and kept when its op bears on class labels (see OnnxClassLabels).
    private void MainNode(long end)
    {
        _op.Clear();
        _domain.Clear();
        _nodeLabels = null;
        _nodeLabelsUnusable = false;
        _nodeLabelsIntegers = false;
        int inputs = 0, outputs = 0;
        while (_cursor.Position < end)
        {
            var (field, wire) = Tag(end);
            switch (field, wire)
            {
                case (1, 2):
                    ReadName(end, inputs++ == 0 ? _input : null);
                    break;
                case (2, 2):
                    ReadName(end, outputs++ switch { 0 => _output0, 1 => _output1, _ => null });
                    break;
                case (4, 2):
                    ReadName(end, _op);
                    break;
                case (7, 2):
                    ReadName(end, _domain);
                    break;
                case (5, 2):
                    Nested(end, Kind.MainNodeAttribute);
                    break;
                default:
                    Skip(wire, end);
                    break;
            }
        }

        var op = LabelOp();
        if (op is null || inputs == 0 || outputs == 0 || _input.TooLong || _output0.TooLong || (outputs > 1 && _output1.TooLong))
        {
            return;
        }

        var classifier = op is "LinearClassifier" or "TreeEnsembleClassifier" or "SVMClassifier" or "ZipMap";
        if (classifier ? _keptClassifiers++ >= OnnxClassLabels.MaxClassifierNodes : _keptPassThrough++ >= OnnxClassLabels.MaxPassThroughNodes)
        {
            return; // past what is worth keeping: outputs further on go without labels, never with wrong ones
        }

        LabelNodes.Add(new OnnxLabelNode(
            op,
            _input.Text(),
            outputs > 1 ? [_output0.Text(), _output1.Text()] : [_output0.Text()],
            classifier && !_nodeLabelsUnusable ? _nodeLabels : null,
            _nodeLabelsIntegers));
    }

    // The op of the node just read, when it bears on labels.
    private string? LabelOp()
    {
        var ml = _domain.Is("ai.onnx.ml"u8);
        var standard = _domain.Length == 0 || _domain.Is("ai.onnx"u8);
        return ml && _op.Is("LinearClassifier"u8) ? "LinearClassifier"
            : ml && _op.Is("TreeEnsembleClassifier"u8) ? "TreeEnsembleClassifier"
            : ml && _op.Is("SVMClassifier"u8) ? "SVMClassifier"
            : ml && _op.Is("ZipMap"u8) ? "ZipMap"
            : ml && _op.Is("Normalizer"u8) ? "Normalizer"
            : standard && _op.Is("Identity"u8) ? "Identity"
            : standard && _op.Is("Cast"u8) ? "Cast"
            : standard && _op.Is("Softmax"u8) ? "Softmax"
            : null;
    }

    // Whether an attribute of the node being read may name its classes: its name is a labels attribute, and the node
    // is a classifier or ZipMap (or its op is not known yet, as in a file that writes op_type after the attributes).
    private bool MayName()
    {
        if (!(_attributeName.Is("classlabels_strings"u8) || _attributeName.Is("classlabels_int64s"u8) || _attributeName.Is("classlabels_ints"u8)))
        {
            return false;
        }

        return _op.Length == 0 || _op.Is("LinearClassifier"u8) || _op.Is("TreeEnsembleClassifier"u8) || _op.Is("SVMClassifier"u8) || _op.Is("ZipMap"u8);
    }

    private void ReadName(long end, NameBytes? into)
    {
        var length = Length(end);
        if (into is null)
        {
            _cursor.Skip(length);
        }
        else if (length > MaxKeptString)
        {
            into.TooLong = true;
            into.Length = 0;
            _cursor.Skip(length);
        }
        else
        {
            into.TooLong = false;
            into.Length = length;
            _cursor.ReadInto(into.Buffer(length), length);
        }
    }

    // Every attribute kind that can hold a tensor or a graph: t, g, tensors, graphs, sparse_tensor, sparse_tensors;
    // of a main-graph node also the classes it names (classlabels_*: read only when the name, written first, says so).
    private void Attribute(long end, bool mainNode)
    {
        bool tensorSeen = false, graphSeen = false, sparseSeen = false;
        var labels = false;
        List<long>? ints = null;
        List<string>? strings = null;
        var dropped = false;
        if (mainNode)
        {
            _attributeName.Clear();
        }

        while (_cursor.Position < end)
        {
            var (field, wire) = Tag(end);
            switch (field, wire)
            {
                case (1, 2) when mainNode:
                    ReadName(end, _attributeName);
                    labels = MayName();
                    break;
                case (8, 0) when labels:
                    KeepInt((long)_cursor.ReadVarint(end));
                    break;
                case (8, 2) when labels:
                    // The length first: it moves the cursor past itself before the end is counted from it.
                    var packedLength = Length(end);
                    var packedEnd = _cursor.Position + packedLength;
                    while (_cursor.Position < packedEnd)
                    {
                        KeepInt((long)_cursor.ReadVarint(packedEnd));
                    }

                    break;
                case (9, 2) when labels:
                    var length = Length(end);
                    if (!dropped && length <= OnnxClassLabels.MaxLabelBytes && (strings ??= []).Count < OnnxClassLabels.MaxLabels
                        && _labelBytes + length + OnnxClassLabels.LabelOverheadBytes <= OnnxClassLabels.MaxTotalLabelBytes)
                    {
                        _labelBytes += length + OnnxClassLabels.LabelOverheadBytes;
                        strings.Add(_cursor.ReadString(length));
                    }
                    else
                    {
                        dropped = true;
                        _cursor.Skip(length);
                    }

                    break;
                case (5, 2):
                    Once(ref tensorSeen, "an attribute's tensor");
                    Nested(end, Kind.Tensor, "attribute tensor");
                    break;
                case (10, 2):
                    Nested(end, Kind.Tensor, "attribute tensor");
                    break;
                case (6, 2):
                    Once(ref graphSeen, "an attribute's graph");
                    Nested(end, Kind.Graph, "subgraph initializer");
                    break;
                case (11, 2):
                    Nested(end, Kind.Graph, "subgraph initializer");
                    break;
                case (22, 2):
                    Once(ref sparseSeen, "an attribute's sparse tensor");
                    Nested(end, Kind.SparseTensor, "attribute sparse tensor");
                    break;
                case (23, 2):
                    Nested(end, Kind.SparseTensor, "attribute sparse tensor");
                    break;
                default:
                    Skip(wire, end);
                    break;
            }
        }

        if (!labels)
        {
            return;
        }

        if (dropped)
        {
            _nodeLabelsUnusable = true; // more or longer than kept: none rather than some
            return;
        }

        IReadOnlyList<string>? named = strings is { Count: > 0 } ? strings
            : ints is { Count: > 0 } ? ints.Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray()
            : null;
        if (named is not null)
        {
            // Both kinds given (or one twice) leaves it unclear which the scores follow.
            _nodeLabelsUnusable |= _nodeLabels is not null;
            _nodeLabels = named;
            _nodeLabelsIntegers = strings is not { Count: > 0 };
        }

        void KeepInt(long value)
        {
            // Held as text once kept: counted against the model's label budget like strings.
            if (!dropped && (ints ??= []).Count < OnnxClassLabels.MaxLabels
                && (_labelBytes += 20 + OnnxClassLabels.LabelOverheadBytes) <= OnnxClassLabels.MaxTotalLabelBytes)
            {
                ints.Add(value);
            }
            else
            {
                dropped = true;
            }
        }
    }

    private void Function(long end)
    {
        while (_cursor.Position < end)
        {
            var (field, wire) = Tag(end);
            switch (field, wire)
            {
                case (7, 2):
                    Nested(end, Kind.Node);
                    break;
                case (11, 2):
                    Nested(end, Kind.Attribute);
                    break;
                default:
                    Skip(wire, end);
                    break;
            }
        }
    }

    private void TrainingInfo(long end)
    {
        bool initializationSeen = false, algorithmSeen = false;
        while (_cursor.Position < end)
        {
            var (field, wire) = Tag(end);
            switch (field, wire)
            {
                case (1, 2):
                    Once(ref initializationSeen, "a training initialization graph");
                    Nested(end, Kind.Graph, "training initializer");
                    break;
                case (2, 2):
                    Once(ref algorithmSeen, "a training algorithm graph");
                    Nested(end, Kind.Graph, "training initializer");
                    break;
                default:
                    Skip(wire, end);
                    break;
            }
        }
    }

    private string SparseTensor(long end, string label)
    {
        string name = "";
        bool valuesSeen = false, indicesSeen = false;
        while (_cursor.Position < end)
        {
            var (field, wire) = Tag(end);
            switch (field, wire)
            {
                case (1, 2):
                    Once(ref valuesSeen, $"the values of a {label}");
                    name = Nested(end, Kind.Tensor, label);
                    break;
                case (2, 2):
                    Once(ref indicesSeen, $"the indices of a {label}");
                    Nested(end, Kind.Tensor, label);
                    break;
                default:
                    Skip(wire, end);
                    break;
            }
        }

        return name;
    }

    private string Tensor(long end, string label)
    {
        var start = _cursor.Position;
        string name = "";
        long elements = 1;
        var rank = 0;
        StringBuilder? shape = null; // Only for messages; most tensors never need it.
        var dataType = 0;
        long? rawLength = null;
        var external = false;
        Dictionary<string, string>? entries = null;
        while (_cursor.Position < end)
        {
            var (field, wire) = Tag(end);
            switch (field, wire)
            {
                case (1, 0):
                    AddDimension((long)_cursor.ReadVarint(end));
                    break;
                case (1, 2):
                    // The length is read before the position is taken: the end counts from after the length's own bytes.
                    var packedLength = Length(end);
                    var packedEnd = _cursor.Position + packedLength;
                    while (_cursor.Position < packedEnd)
                    {
                        AddDimension((long)_cursor.ReadVarint(packedEnd));
                    }

                    break;
                case (2, 0):
                    dataType = unchecked((int)_cursor.ReadVarint(end));
                    break;
                case (8, 2):
                    name = KeptString(end);
                    break;
                case (9, 2):
                    rawLength = Length(end);
                    _cursor.Skip(rawLength.Value);
                    break;
                case (13, 2):
                    Nested(end, Kind.ExternalEntry);
                    entries ??= new Dictionary<string, string>(StringComparer.Ordinal);
                    if (!entries.TryAdd(_entryKey, _entryValue))
                    {
                        throw Invalid(start, $"{label} '{Shorten(name)}' has external data key '{Shorten(_entryKey)}' twice");
                    }

                    break;
                case (14, 0):
                    external = _cursor.ReadVarint(end) == 1;
                    break;
                default:
                    Skip(wire, end);
                    break;
            }
        }

        if (elements < 0)
        {
            throw new InvalidModelFileException($"{label} '{Shorten(name)}' has an impossible shape [{shape}]");
        }

        var expected = OnnxElementTypes.ByteLength((OnnxElementType)dataType, elements);
        if (!external)
        {
            if (rawLength is { } have && expected is { } need && have != need)
            {
                throw new InvalidModelFileException($"{label} '{Shorten(name)}' holds {have} bytes of data but its shape [{shape}] needs {need}");
            }

            return name;
        }

        CheckExternal($"{label} '{Shorten(name)}'", $"[{shape}]", expected, entries);
        return name;

        void AddDimension(long dim)
        {
            shape ??= new StringBuilder();
            if (rank < 16)
            {
                shape.Append(rank == 0 ? "" : ",").Append(dim.ToString(CultureInfo.InvariantCulture));
            }
            else if (rank == 16)
            {
                shape.Append(",...");
            }

            rank++;
            if (dim < 0 || (dim > 0 && elements > long.MaxValue / 16 / dim))
            {
                elements = -1;
            }
            else if (elements >= 0)
            {
                elements *= dim;
            }
        }
    }

    private void CheckExternal(string what, string dims, long? expected, Dictionary<string, string>? entries)
    {
        if (entries is null || !entries.TryGetValue("location", out var location) || location.Length == 0)
        {
            throw new InvalidModelFileException($"{what} is marked external but names no location");
        }

        var offset = Number(what, entries, "offset") ?? 0;
        var length = Number(what, entries, "length");
        if (length is { } given && expected is { } needed && given != needed)
        {
            throw new InvalidModelFileException($"{what} declares {given} bytes of external data but its shape {dims} needs {needed}");
        }

        // Like ONNX Runtime, only files inside the model's folder count: no absolute paths, no climbing out with "..".
        if (location.Contains('\0', StringComparison.Ordinal) || location.StartsWith('*') || location == RuntimeMemoryMarker
            || Path.IsPathRooted(location) || !StaysInside(location))
        {
            throw new InvalidModelFileException($"external data file '{Shorten(location)}' referenced by {what} is outside the model's folder");
        }

        if (_externalFileSet.Add(location))
        {
            ExternalFiles.Add(location);
        }

        if (_directory is null)
        {
            return; // Held in memory with no folder given: the caller checks the files later.
        }

        if (!_fileSizes.TryGetValue(location, out var size))
        {
            size = ExternalFileSize(what, location);
            _fileSizes[location] = size;
        }

        var end = offset > long.MaxValue - (length ?? expected ?? 0) ? long.MaxValue : offset + (length ?? expected ?? 0);
        if (end > size)
        {
            throw new InvalidModelFileException($"external data of {what} ends at byte {end} but '{location}' has only {size} bytes");
        }
    }

    private byte[] GraphValue(long end, int count, string what)
    {
        if (count >= MaxGraphValues)
        {
            throw new InvalidModelFileException($"the graph declares more than {MaxGraphValues} {what}");
        }

        return _cursor.ReadBytes(Length(end));
    }

    private static bool StaysInside(string location)
    {
        var root = OperatingSystem.IsWindows() ? @"C:\maas-model" : "/maas-model";
        var full = Path.GetFullPath(Path.Combine(root, location));
        return full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    }

    private long ExternalFileSize(string what, string location)
    {
        var root = Path.GetFullPath(_directory!);
        var full = Path.GetFullPath(Path.Combine(root, location));
        var rootWithSeparator = Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar;
        if (!full.StartsWith(rootWithSeparator, StringComparison.Ordinal))
        {
            throw new InvalidModelFileException($"external data file '{Shorten(location)}' referenced by {what} is outside the model's folder");
        }

        var info = new FileInfo(full);
        if (!info.Exists || info.LinkTarget is not null)
        {
            throw new InvalidModelFileException($"external data file '{Shorten(location)}' referenced by {what} is missing");
        }

        return info.Length;
    }

    private static long? Number(string what, Dictionary<string, string> entries, string key) =>
        !entries.TryGetValue(key, out var text) ? null
        : long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value
        : throw new InvalidModelFileException($"{what} has external data {key} '{Shorten(text)}', which is not a non-negative number");

    private void Opset(long end)
    {
        var domain = "";
        long version = 0;
        while (_cursor.Position < end)
        {
            var (field, wire) = Tag(end);
            switch (field, wire)
            {
                case (1, 2):
                    domain = KeptString(end);
                    break;
                case (2, 0):
                    version = (long)_cursor.ReadVarint(end);
                    break;
                default:
                    Skip(wire, end);
                    break;
            }
        }

        if (Opsets.Count >= MaxOpsets)
        {
            throw new InvalidModelFileException($"the model imports more than {MaxOpsets} operator sets");
        }

        Opsets.Add(new OnnxOpset(domain, version));
    }

    // A StringStringEntryProto: leaves its key and value in _entryKey and _entryValue.
    private void Entry(long end, int maxLength, string what)
    {
        _entryKey = "";
        _entryValue = "";
        while (_cursor.Position < end)
        {
            var (field, wire) = Tag(end);
            switch (field, wire)
            {
                case (1, 2) or (2, 2):
                    var start = _cursor.Position;
                    var length = Length(end);
                    if (length > maxLength)
                    {
                        throw Invalid(start, $"a {what} entry of {length} bytes is longer than the {maxLength} allowed");
                    }

                    var text = _cursor.ReadString(length);
                    if (field == 1)
                    {
                        _entryKey = text;
                    }
                    else
                    {
                        _entryValue = text;
                    }

                    break;
                default:
                    Skip(wire, end);
                    break;
            }
        }
    }

    // ---- wire format ----

    private (int Field, int Wire) Tag(long end)
    {
        var at = _cursor.Position;
        var tag = _cursor.ReadVarint(end);
        var field = tag >> 3;
        if (field == 0 || field > int.MaxValue)
        {
            throw Invalid(at, $"field number {field} is not valid protobuf");
        }

        return ((int)field, (int)(tag & 7));
    }

    private int Length(long end)
    {
        var at = _cursor.Position;
        var length = _cursor.ReadVarint(end);
        if (length > (ulong)(end - _cursor.Position))
        {
            throw end == _cursor.Length
                ? Truncated(at)
                : Invalid(at, $"a field of {length} bytes runs past the end of the message holding it");
        }

        return (int)length;
    }

    // Reads one length-delimited sub-message of the given kind; returns the name of a tensor (else "").
    private string Nested(long end, Kind kind, string label = "")
    {
        var length = Length(end);
        if (++_depth > MaxDepth)
        {
            throw Invalid(_cursor.Position, $"messages nest more than {MaxDepth} deep");
        }

        var inner = _cursor.Position + length;
        var result = "";
        switch (kind)
        {
            case Kind.MainGraph:
                Graph(inner, main: true, "initializer");
                break;
            case Kind.Graph:
                Graph(inner, main: false, label);
                break;
            case Kind.Node:
                Node(inner);
                break;
            case Kind.MainNode:
                MainNode(inner);
                break;
            case Kind.Attribute:
                Attribute(inner, mainNode: false);
                break;
            case Kind.MainNodeAttribute:
                Attribute(inner, mainNode: true);
                break;
            case Kind.Function:
                Function(inner);
                break;
            case Kind.TrainingInfo:
                TrainingInfo(inner);
                break;
            case Kind.Tensor:
                result = Tensor(inner, label);
                break;
            case Kind.SparseTensor:
                result = SparseTensor(inner, label);
                break;
            case Kind.Opset:
                Opset(inner);
                break;
            case Kind.Metadata:
                Entry(inner, MaxKeptString, "metadata_props");
                break;
            case Kind.ExternalEntry:
                Entry(inner, MaxExternalDataEntry, "external_data");
                break;
        }

        _depth--;
        return result;
    }

    private void Skip(int wire, long end)
    {
        var at = _cursor.Position;
        switch (wire)
        {
            case 0:
                _cursor.ReadVarint(end);
                break;
            case 1:
                Fixed(8);
                break;
            case 2:
                _cursor.Skip(Length(end));
                break;
            case 5:
                Fixed(4);
                break;
            default:
                throw Invalid(at, $"wire type {wire} is not used by ONNX");
        }

        void Fixed(int size)
        {
            if (end - _cursor.Position < size)
            {
                throw end == _cursor.Length ? Truncated(at) : Invalid(at, "a fixed-size field runs past the end of the message holding it");
            }

            _cursor.Skip(size);
        }
    }

    private string KeptString(long end)
    {
        var length = Length(end);
        if (length <= MaxKeptString)
        {
            return _cursor.ReadString(length);
        }

        _cursor.Skip(length);
        return "";
    }

    private static void Once(ref bool seen, string what)
    {
        if (seen)
        {
            throw new InvalidModelFileException($"{what} appears twice in one message (protobuf would merge them)");
        }

        seen = true;
    }

    private InvalidModelFileException Truncated(long at) =>
        new($"truncated protobuf at byte {_cursor.Length}: the field at byte {at} runs past the end of the file");

    private InvalidModelFileException Invalid(long at, string reason) =>
        new($"invalid protobuf near byte {at} of {_cursor.Length}: {reason}");

    private static string Shorten(string s) => s.Length <= 80 ? s : string.Concat(s.AsSpan(0, 77), "...");

    /// <summary>A name as its UTF-8 bytes, in a buffer reused from one read to the next.</summary>
    private sealed class NameBytes
    {
        private byte[] _bytes = new byte[64];

        public int Length { get; set; }

        public bool TooLong { get; set; }

        public void Clear()
        {
            Length = 0;
            TooLong = false;
        }

        public byte[] Buffer(int length)
        {
            if (_bytes.Length < length)
            {
                _bytes = new byte[Math.Max(length, _bytes.Length * 2)];
            }

            return _bytes;
        }

        public bool Is(ReadOnlySpan<byte> name) => !TooLong && _bytes.AsSpan(0, Length).SequenceEqual(name);

        public string Text() => Encoding.UTF8.GetString(_bytes, 0, Length);
    }

    /// <summary>A forward reader over a seekable stream with its own buffer; long fields are skipped by seeking.</summary>
    private sealed class Cursor
    {
        private readonly Stream _stream;
        private readonly byte[] _buffer = new byte[1 << 16];
        private readonly long _origin;
        private long _bufferStart;
        private int _bufferLength;
        private int _bufferPosition;

        public Cursor(Stream stream)
        {
            _stream = stream;
            _origin = stream.Position;
            Length = stream.Length - _origin;
        }

        public long Length { get; }

        public long Position => _bufferStart + _bufferPosition;

        public ulong ReadVarint(long end)
        {
            ulong value = 0;
            var at = Position;
            for (var shift = 0; shift < 70; shift += 7)
            {
                if (Position >= end)
                {
                    throw end == Length
                        ? new InvalidModelFileException($"truncated protobuf at byte {Length}: the number at byte {at} runs past the end of the file")
                        : new InvalidModelFileException($"invalid protobuf near byte {at} of {Length}: a number runs past the end of the message holding it");
                }

                var b = ReadByte();
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return value;
                }
            }

            throw new InvalidModelFileException($"invalid protobuf near byte {at} of {Length}: a number is longer than 10 bytes");
        }

        public byte[] ReadBytes(int count)
        {
            if (count == 0)
            {
                return [];
            }

            var bytes = new byte[count];
            ReadInto(bytes, count);
            return bytes;
        }

        public void ReadInto(byte[] destination, int count)
        {
            var done = 0;
            while (done < count)
            {
                Fill();
                var take = Math.Min(count - done, _bufferLength - _bufferPosition);
                _buffer.AsSpan(_bufferPosition, take).CopyTo(destination.AsSpan(done));
                _bufferPosition += take;
                done += take;
            }
        }

        public string ReadString(int count)
        {
            if (count == 0)
            {
                return "";
            }

            if (count <= _buffer.Length)
            {
                if (_bufferLength - _bufferPosition < count)
                {
                    Refill();
                }

                var text = Encoding.UTF8.GetString(_buffer, _bufferPosition, count);
                _bufferPosition += count;
                return text;
            }

            return Encoding.UTF8.GetString(ReadBytes(count));
        }

        public void Skip(long count)
        {
            if (count <= _bufferLength - _bufferPosition)
            {
                _bufferPosition += (int)count;
                return;
            }

            _bufferStart = Position + count;
            _bufferLength = 0;
            _bufferPosition = 0;
        }

        private byte ReadByte()
        {
            if (_bufferPosition >= _bufferLength)
            {
                Fill();
            }

            return _buffer[_bufferPosition++];
        }

        private void Fill()
        {
            if (_bufferPosition < _bufferLength)
            {
                return;
            }

            _bufferStart += _bufferPosition;
            _bufferPosition = 0;
            _bufferLength = 0;
            Load();
        }

        // Moves what is left of the buffer to its front and reads after it, so the next field is contiguous.
        private void Refill()
        {
            var left = _bufferLength - _bufferPosition;
            _buffer.AsSpan(_bufferPosition, left).CopyTo(_buffer);
            _bufferStart += _bufferPosition;
            _bufferPosition = 0;
            _bufferLength = left;
            Load();
        }

        private void Load()
        {
            _stream.Position = _origin + _bufferStart + _bufferLength;
            var want = (int)Math.Min(_buffer.Length - _bufferLength, Length - _bufferStart - _bufferLength);
            _stream.ReadExactly(_buffer, _bufferLength, want);
            _bufferLength += want;
            if (_bufferLength == 0)
            {
                throw new InvalidModelFileException($"truncated protobuf at byte {Length}");
            }
        }
    }
}
