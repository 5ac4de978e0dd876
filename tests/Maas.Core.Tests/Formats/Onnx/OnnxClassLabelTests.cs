using Google.Protobuf;
using Maas.Core.Formats.Onnx;

namespace Maas.Core.Tests.Formats.Onnx;

/// <summary>
/// The class labels a model carries: ONNX-ML classifiers and ZipMap name the classes of the scores, followed to graph
/// outputs through ops that keep the columns; nothing is guessed where the mapping is ambiguous.
/// </summary>
public sealed class OnnxClassLabelTests
{
    private const string Ml = OnnxClassLabels.MlDomain;

    [Fact]
    public void A_linear_classifier_names_the_scores_it_feeds_through_identity()
    {
        var info = OnnxModelReader.Read(OnnxModelWriter.LinearClassifier(stringLabels: ["cat", "dog", "fox"]).ToBytes());
        Assert.Equal(["scores"], info.ClassLabels.Keys);
        Assert.Equal(["cat", "dog", "fox"], info.ClassLabels["scores"]);

        var ints = OnnxModelReader.Read(OnnxModelWriter.LinearClassifier(intLabels: [7, -1, 9]).ToBytes());
        Assert.Equal(["7", "-1", "9"], ints.ClassLabels["scores"]);

        // ZipMap and TreeEnsembleClassifier spell integer labels classlabels_int64s.
        var zipmap = new OnnxModelWriter("zipmap-ints")
            .Opset(1, Ml)
            .Input("x", OnnxElementType.Float, "batch", 2)
            .Output("scores", OnnxElementType.Float, "batch", 2)
            .Node("Identity", ["x"], ["scores"])
            .Node("ZipMap", ["scores"], ["map"], null, Ml, OnnxAttribute.Ints("classlabels_int64s", 0, 1));
        Assert.Equal(["0", "1"], OnnxModelReader.Read(zipmap.ToBytes()).ClassLabels["scores"]);
    }

    [Fact]
    public void Packed_integer_labels_as_mlnet_writes_them_are_read_and_the_attribute_after_them_too()
    {
        // ML.NET's exporter packs repeated ints (onnx.proto is proto2, whose writers here do not): the packed run's
        // end was counted from before its length, so the scan read its last bytes as fields and refused the file.
        var model = Message(m =>
        {
            Varint(m, 1, 8); // ir_version
            Field(m, 8, Message(o => { Text(o, 1, ""); Varint(o, 2, 13); }));
            Field(m, 8, Message(o => { Text(o, 1, Ml); Varint(o, 2, 1); }));
            Field(m, 7, Message(g =>
            {
                Field(g, 1, Message(n =>
                {
                    Text(n, 1, "input");
                    Text(n, 2, "label");
                    Text(n, 2, "scores");
                    Text(n, 4, "LinearClassifier");
                    Text(n, 7, Ml);
                    Field(n, 5, Message(a =>
                    {
                        Text(a, 1, "classlabels_ints");
                        Field(a, 8, Message(p => { foreach (var label in new long[] { 300, -1, 9 }) { p.WriteInt64(label); } }));
                        Varint(a, 20, 7); // type INTS, after the packed run
                    }));
                    Field(n, 5, Message(a => { Text(a, 1, "post_transform"); Text(a, 4, "NONE"); Varint(a, 20, 3); }));
                }));
                Text(g, 2, "packed");
                Field(g, 11, ValueInfo("input", OnnxElementType.Float, 3));
                Field(g, 12, ValueInfo("label", OnnxElementType.Int64));
                Field(g, 12, ValueInfo("scores", OnnxElementType.Float, 3));
            }));
        });

        Assert.Equal(["300", "-1", "9"], OnnxModelReader.Read(model).ClassLabels["scores"]);

        static byte[] ValueInfo(string name, OnnxElementType type, params long[] dims) => Message(v =>
        {
            Text(v, 1, name);
            Field(v, 2, Message(t => Field(t, 1, Message(tensor =>
            {
                Varint(tensor, 1, (long)type);
                Field(tensor, 2, Message(shape =>
                {
                    Field(shape, 1, Message(d => Text(d, 2, "batch")));
                    foreach (var dim in dims)
                    {
                        Field(shape, 1, Message(d => Varint(d, 1, dim)));
                    }
                }));
            }))));
        });
    }

    private static byte[] Message(Action<CodedOutputStream> write)
    {
        using var bytes = new MemoryStream();
        var output = new CodedOutputStream(bytes);
        write(output);
        output.Flush();
        return bytes.ToArray();
    }

    private static void Field(CodedOutputStream output, int field, byte[] message)
    {
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(message));
    }

    private static void Text(CodedOutputStream output, int field, string text)
    {
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteString(text);
    }

    private static void Varint(CodedOutputStream output, int field, long value)
    {
        output.WriteTag(field, WireFormat.WireType.Varint);
        output.WriteInt64(value);
    }

    [Fact]
    public void A_zipmap_names_the_scores_it_reads_and_chains_of_cast_softmax_and_normalizer_keep_them()
    {
        var model = new OnnxModelWriter("zipmap")
            .Opset(1, Ml)
            .Input("x", OnnxElementType.Float, "batch", 2)
            .Output("probabilities", OnnxElementType.Float, "batch", 2)
            .Output("doubled", OnnxElementType.Double, "batch", 2)
            .Output("normalized", OnnxElementType.Float, "batch", 2)
            .Node("Softmax", ["x"], ["probabilities"])
            .Node("ZipMap", ["probabilities"], ["map"], null, Ml, OnnxAttribute.Strings("classlabels_strings", "no", "yes"))
            .Node("Cast", ["probabilities"], ["doubled"], OnnxAttribute.Int("to", (long)OnnxElementType.Double))
            .Node("Normalizer", ["probabilities"], ["normalized"], null, Ml, OnnxAttribute.String("norm", "L1"));
        var info = OnnxModelReader.Read(model.ToBytes());
        Assert.Equal(["doubled", "normalized", "probabilities"], info.ClassLabels.Keys.Order(StringComparer.Ordinal));
        Assert.All(info.ClassLabels.Values, labels => Assert.Equal(["no", "yes"], labels));
    }

    [Fact]
    public void A_zipmap_output_is_described_as_a_tensor_labelled_in_its_key_order()
    {
        var ints = OnnxModelReader.Read(OnnxModelWriter.ZipMapClassifier(intLabels: [7, -1, 9]).ToBytes());
        var probabilities = ints.Outputs.Single(o => o.Name == "probabilities");
        Assert.Equal("FP32", probabilities.KServeDatatype);
        Assert.Equal([-1L, -1], probabilities.Dims);
        Assert.Equal(["-1", "7", "9"], ints.ClassLabels["probabilities"]);

        var strings = OnnxModelReader.Read(OnnxModelWriter.ZipMapClassifier(stringLabels: ["zebra", "Ému", "ant"]).ToBytes());
        Assert.Equal(["ant", "zebra", "Ému"], strings.ClassLabels["probabilities"]);
    }

    [Fact]
    public void Outputs_are_left_without_labels_where_the_mapping_is_not_clear()
    {
        // Two ZipMaps name the same scores differently.
        var conflicting = new OnnxModelWriter("conflict")
            .Opset(1, Ml)
            .Input("x", OnnxElementType.Float, "batch", 2)
            .Output("scores", OnnxElementType.Float, "batch", 2)
            .Output("copy", OnnxElementType.Float, "batch", 2)
            .Node("Identity", ["x"], ["scores"])
            .Node("ZipMap", ["scores"], ["a"], null, Ml, OnnxAttribute.Strings("classlabels_strings", "no", "yes"))
            .Node("ZipMap", ["scores"], ["b"], null, Ml, OnnxAttribute.Strings("classlabels_strings", "yes", "no"))
            .Node("Identity", ["scores"], ["copy"]);
        Assert.Empty(OnnxModelReader.Read(conflicting.ToBytes()).ClassLabels);

        // The same names twice are no conflict.
        var agreeing = new OnnxModelWriter("agree")
            .Opset(1, Ml)
            .Input("x", OnnxElementType.Float, "batch", 2)
            .Output("scores", OnnxElementType.Float, "batch", 2)
            .Node("Identity", ["x"], ["scores"])
            .Node("ZipMap", ["scores"], ["a"], null, Ml, OnnxAttribute.Strings("classlabels_strings", "no", "yes"))
            .Node("ZipMap", ["scores"], ["b"], null, Ml, OnnxAttribute.Strings("classlabels_strings", "no", "yes"));
        Assert.Equal(["no", "yes"], OnnxModelReader.Read(agreeing.ToBytes()).ClassLabels["scores"]);

        // Both kinds of labels on one node: which the scores follow is unclear.
        var both = new OnnxModelWriter("both")
            .Opset(1, Ml)
            .Input("x", OnnxElementType.Float, "batch", 2)
            .Output("scores", OnnxElementType.Float, "batch", 2)
            .Node("Identity", ["x"], ["scores"])
            .Node("ZipMap", ["scores"], ["a"], null, Ml, OnnxAttribute.Strings("classlabels_strings", "no", "yes"), OnnxAttribute.Ints("classlabels_int64s", 0, 1));
        Assert.Empty(OnnxModelReader.Read(both.ToBytes()).ClassLabels);

        // An op that changes the columns (a MatMul after the scores) does not carry them, and a ZipMap of another
        // domain is not ONNX-ML's.
        var changed = new OnnxModelWriter("changed")
            .Opset(1, Ml)
            .Input("x", OnnxElementType.Float, "batch", 2)
            .Output("projected", OnnxElementType.Float, "batch", 3)
            .Output("other", OnnxElementType.Float, "batch", 2)
            .Initializer("w", new float[6], [2, 3])
            .Node("ZipMap", ["x"], ["a"], null, Ml, OnnxAttribute.Strings("classlabels_strings", "no", "yes"))
            .Node("MatMul", ["x", "w"], ["projected"])
            .Node("Identity", ["x"], ["other_in"])
            .Node("ZipMap", ["other_in"], ["b"], null, "com.example", OnnxAttribute.Strings("classlabels_strings", "no", "yes"))
            .Node("Identity", ["other_in"], ["other"]);
        var info = OnnxModelReader.Read(changed.ToBytes());
        Assert.False(info.ClassLabels.ContainsKey("projected"));
        Assert.Equal(["no", "yes"], info.ClassLabels["other"]); // from x's ZipMap, through the Identity chain
    }

    [Fact]
    public void Labels_inside_a_subgraph_are_not_the_main_graphs()
    {
        var body = new OnnxModelWriter("then")
            .Opset(1, Ml)
            .Output("y", OnnxElementType.Float, 2)
            .Node("Identity", ["x"], ["y"])
            .Node("ZipMap", ["y"], ["m"], null, Ml, OnnxAttribute.Strings("classlabels_strings", "no", "yes"));
        var model = new OnnxModelWriter("if")
            .Opset(1, Ml)
            .Input("cond", OnnxElementType.Bool)
            .Input("x", OnnxElementType.Float, 2)
            .Output("y", OnnxElementType.Float, 2)
            .Node("If", ["cond"], ["y"], OnnxAttribute.Graph("then_branch", body), OnnxAttribute.Graph("else_branch", body));
        Assert.Empty(OnnxModelReader.Read(model.ToBytes()).ClassLabels);
    }

    [Theory]
    [InlineData("zipmaps")]
    [InlineData("identities")]
    public void A_flood_of_label_nodes_costs_the_reader_a_bounded_multiple_of_the_file(string flood)
    {
        var model = new OnnxModelWriter("flood")
            .Opset(1, Ml)
            .Input("x", OnnxElementType.Float, "batch", 2)
            .Output("y", OnnxElementType.Float, "batch", 2)
            .Node("Identity", ["x"], ["y"]);
        var oneByteLabels = OnnxAttribute.Strings("classlabels_strings", [.. Enumerable.Range(0, 1000).Select(i => ((char)('a' + (i % 26))).ToString())]);
        for (var i = 0; i < (flood == "zipmaps" ? 2_000 : 20_000); i++)
        {
            if (flood == "zipmaps")
            {
                model.Node("ZipMap", ["y"], ["m"], "", Ml, oneByteLabels); // 2 million labels, past the budget
            }
            else
            {
                model.Node("Identity", ["y"], ["i"], "", "");
            }
        }

        var bytes = model.ToBytes();
        var before = GC.GetAllocatedBytesForCurrentThread();
        OnnxModelReader.Read(bytes);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before - bytes.Length; // Read(bytes) copies them once
        Assert.True(allocated <= (16L * bytes.Length) + (1 << 20), $"{bytes.Length} bytes: reading allocated {allocated}");
    }

    [Fact]
    public void A_node_naming_more_classes_than_are_kept_gives_none()
    {
        var many = Enumerable.Range(0, OnnxClassLabels.MaxLabels + 1).Select(i => (long)i).ToArray();
        var model = new OnnxModelWriter("many")
            .Opset(1, Ml)
            .Input("x", OnnxElementType.Float, "batch", 2)
            .Output("scores", OnnxElementType.Float, "batch", 2)
            .Node("Identity", ["x"], ["scores"])
            .Node("ZipMap", ["scores"], ["a"], null, Ml, OnnxAttribute.Ints("classlabels_int64s", many));
        Assert.Empty(OnnxModelReader.Read(model.ToBytes()).ClassLabels);

        var longLabel = new OnnxModelWriter("long")
            .Opset(1, Ml)
            .Input("x", OnnxElementType.Float, "batch", 2)
            .Output("scores", OnnxElementType.Float, "batch", 2)
            .Node("Identity", ["x"], ["scores"])
            .Node("ZipMap", ["scores"], ["a"], null, Ml, OnnxAttribute.Strings("classlabels_strings", "no", new string('y', OnnxClassLabels.MaxLabelBytes + 1)));
        Assert.Empty(OnnxModelReader.Read(longLabel.ToBytes()).ClassLabels);
    }
}
