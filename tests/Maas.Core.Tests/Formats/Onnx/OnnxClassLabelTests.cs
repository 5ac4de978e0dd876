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
