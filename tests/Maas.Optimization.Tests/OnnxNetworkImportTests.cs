using Maas.Core.Formats.Onnx;
using Maas.Core.Training;
using Maas.Optimization.FineTuning;
using Maas.Optimization.Onnx;
using Maas.Runtimes.Ggml;
using Maas.Runtimes.Onnx;

namespace Maas.Optimization.Tests;

/// <summary>
/// The pruning fine-tune's ONNX import reading GELU (the operator and written out in nodes) and Dropout: the ggml
/// network it builds computes what ONNX Runtime computes from the same file, and what it cannot read is named.
/// </summary>
public sealed class OnnxNetworkImportTests : IDisposable
{
    private const int Side = 4;
    private const int Pixels = Side * Side;
    private const int Hidden = 12;
    private const int Classes = 3;
    private const int Rows = 8;

    // ggml's GELU and ONNX Runtime's tanh GELU in float (they differ by about 5e-7 here): far below the 4.7e-4 the erf and tanh forms differ by.
    private const double TanhTolerance = 1e-5;

    private readonly string _folder = Directory.CreateTempSubdirectory("maas-import-tests-").FullName;
    private readonly float[] _w1 = Uniform(Hidden * Pixels, 1, seed: 1);
    private readonly float[] _b1 = Uniform(Hidden, 0.5f, seed: 2);
    private readonly float[] _w2 = Uniform(Classes * Hidden, 1, seed: 3);
    private readonly float[] _b2 = Uniform(Classes, 0.5f, seed: 4);
    private readonly float[] _pictures = Uniform(Rows * Pixels, 1, seed: 5).Select(v => (v + 1) / 2).ToArray();

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static float[] Uniform(int count, float scale, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2) - 1) * scale).ToArray();
    }

    // Each form writes GELU of "hidden" into "activated". image [N, 1, 4, 4] → Flatten → Gemm 16→12 → GELU (in the form named) → Dropout 0.25 (inference) → Gemm 12→3 → logits →
    // Softmax.
    private string Model(string form, Action<OnnxModelWriter>? dropout = null)
    {
        var opset = form.StartsWith("gelu-op", StringComparison.Ordinal) ? 20 : 17;
        var writer = new OnnxModelWriter("import", opset, irVersion: 9)
            .Input("image", OnnxElementType.Float, OnnxDimension.Symbolic("N"), 1, Side, Side)
            .Output("logits", OnnxElementType.Float, OnnxDimension.Symbolic("N"), Classes)
            .Output("probabilities", OnnxElementType.Float, OnnxDimension.Symbolic("N"), Classes)
            .Initializer("w1", _w1, [Hidden, Pixels])
            .Initializer("b1", _b1, [Hidden])
            .Initializer("w2", _w2, [Classes, Hidden])
            .Initializer("b2", _b2, [Classes])
            .Node("Flatten", ["image"], ["flat"], "flatten", "", OnnxAttribute.Int("axis", 1))
            .Node("Gemm", ["flat", "w1", "b1"], ["hidden"], "dense1", "", OnnxAttribute.Int("transB", 1));
        switch (form)
        {
            case "gelu-op-none":
                writer.Node("Gelu", ["hidden"], ["activated"], "gelu", "");
                break;
            case "gelu-op-tanh":
                writer.Node("Gelu", ["hidden"], ["activated"], "gelu", "", OnnxAttribute.String("approximate", "tanh"));
                break;
            case "com.microsoft-gelu":
                writer.Opset(1, "com.microsoft").Node("Gelu", ["hidden"], ["activated"], "gelu", "com.microsoft");
                break;
            case "erf-written-out":
                // As PyTorch exports nn.GELU below opset 20.
                writer.Initializer("sqrt2", [MathF.Sqrt(2)], []).Initializer("one", [1f], []).Initializer("half", [0.5f], [])
                    .Node("Div", ["hidden", "sqrt2"], ["scaled"], "div", "")
                    .Node("Erf", ["scaled"], ["erf"], "erf", "")
                    .Node("Add", ["erf", "one"], ["plus1"], "add", "")
                    .Node("Mul", ["hidden", "plus1"], ["times"], "mul", "")
                    .Node("Mul", ["times", "half"], ["activated"], "mul_half", "");
                break;
            case "erf-written-out-constants-first":
                // Constant nodes, constants on the left, the half taken first and 1/√2 as a product.
                writer.Node("Constant", [], ["c_half"], "c_half", "", OnnxAttribute.Float("value_float", 0.5f))
                    .Node("Mul", ["c_half", "hidden"], ["half_x"], "mul_half", "")
                    .Node("Constant", [], ["c_inv"], "c_inv", "", OnnxAttribute.Float("value_float", 1 / MathF.Sqrt(2)))
                    .Node("Mul", ["hidden", "c_inv"], ["scaled"], "mul_inv", "")
                    .Node("Erf", ["scaled"], ["erf"], "erf", "")
                    .Node("Constant", [], ["c_one"], "c_one", "", OnnxAttribute.Float("value_float", 1f))
                    .Node("Add", ["c_one", "erf"], ["plus1"], "add", "")
                    .Node("Mul", ["half_x", "plus1"], ["activated"], "mul", "");
                break;
            case "tanh-written-out-with-pow":
                writer.Initializer("three", [3f], []).Initializer("cubic", [0.044715f], []).Initializer("root", [MathF.Sqrt(2 / MathF.PI)], [])
                    .Initializer("one", [1f], []).Initializer("half", [0.5f], [])
                    .Node("Pow", ["hidden", "three"], ["cube"], "pow", "")
                    .Node("Mul", ["cube", "cubic"], ["cubic_term"], "mul_cubic", "")
                    .Node("Add", ["hidden", "cubic_term"], ["inner"], "add_inner", "")
                    .Node("Mul", ["root", "inner"], ["scaled"], "mul_root", "")
                    .Node("Tanh", ["scaled"], ["tanh"], "tanh", "")
                    .Node("Add", ["tanh", "one"], ["plus1"], "add_one", "")
                    .Node("Mul", ["hidden", "half"], ["half_x"], "mul_half", "")
                    .Node("Mul", ["half_x", "plus1"], ["activated"], "mul", "");
                break;
            default:
                throw new ArgumentException(form, nameof(form));
        }

        (dropout ?? Dropout)(writer);
        writer.Node("Gemm", ["dropped", "w2", "b2"], ["logits"], "dense2", "", OnnxAttribute.Int("transB", 1))
            .Node("Softmax", ["logits"], ["probabilities"], "softmax", "", OnnxAttribute.Int("axis", 1));
        var path = Path.Combine(_folder, form + "-" + Guid.NewGuid().ToString("n")[..6] + ".onnx");
        writer.Save(path);
        return path;
    }

    // Dropout at inference as opset 12+ writes it: the ratio and training_mode (false) as inputs, the mask output unread.
    private static void Dropout(OnnxModelWriter writer) =>
        writer.Initializer("ratio", [0.25f], []).Initializer<byte>("training", OnnxElementType.Bool, [0], [])
            .Node("Dropout", ["activated", "ratio", "training"], ["dropped", "mask"], "drop", "");

    private float[] OnnxRuntimeLogits(string path)
    {
        using var options = new OnnxSessionOptions { IntraOpThreads = 1, InterOpThreads = 1 };
        using var session = OnnxSession.Open(path, options);
        using var tensor = OnnxTensor.Create(_pictures, Rows, 1, Side, Side);
        using var outputs = session.Run([new("image", tensor)], ["logits"]);
        return outputs[0].GetData<float>().ToArray();
    }

    private float[] GgmlLogits(ImportedNetwork imported)
    {
        using var network = GgmlNetwork.Create(imported.Layers, imported.Input, imported.Classes, new GgmlTrainingOptions { BatchSize = Rows });
        network.Restore(imported.Weights);
        return network.Logits(_pictures, Enumerable.Range(0, Rows).ToArray());
    }

    private static double MaxDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
    }

    [Theory]
    [InlineData("gelu-op-none")]
    [InlineData("gelu-op-tanh")]
    [InlineData("com.microsoft-gelu")]
    [InlineData("erf-written-out")]
    [InlineData("erf-written-out-constants-first")]
    [InlineData("tanh-written-out-with-pow")]
    public void Gelu_and_dropout_import_and_the_forward_pass_matches_onnx_runtime(string form)
    {
        var path = Model(form);
        var imported = OnnxNetworkImport.Read(OnnxGraph.Load(path));

        Assert.Equal(["flatten", "dense", "gelu", "dense"], imported.Layers.Select(l => l.Type));
        Assert.Equal(Hidden, imported.Layers[1].Units);
        Assert.Equal(Classes, imported.Classes);
        Assert.Contains(imported.Notes, n => n.Contains("node 'drop' (Dropout, ratio 0.25) is the identity", StringComparison.Ordinal));

        // The hidden values span several units either side of 0, where the GELU forms differ most.
        var hidden = Enumerable.Range(0, Rows * Hidden)
            .Select(i => _b1[i % Hidden] + Enumerable.Range(0, Pixels).Sum(p => _w1[((i % Hidden) * Pixels) + p] * _pictures[((i / Hidden) * Pixels) + p])).ToArray();
        Assert.True(hidden.Min() < -2 && hidden.Max() > 2, $"hidden values from {hidden.Min()} to {hidden.Max()}");

        var expected = OnnxRuntimeLogits(path);
        var actual = GgmlLogits(imported);
        var diff = MaxDiff(expected, actual);
        var erf = form is "gelu-op-none" or "com.microsoft-gelu" or "erf-written-out" or "erf-written-out-constants-first";
        if (erf)
        {
            // ggml computes the tanh form: each hidden value moves by at most 4.7e-4, each logit by that times its weights.
            var bound = (4.8e-4 * Enumerable.Range(0, Classes).Max(c => _w2.Skip(c * Hidden).Take(Hidden).Sum(w => Math.Abs(w)))) + TanhTolerance;
            Assert.True(diff <= bound, $"{form}: max logit difference {diff}, bound {bound}");
            Assert.Contains(imported.Notes, n => n.Contains("exact (erf) GELU", StringComparison.Ordinal));
        }
        else
        {
            Assert.True(diff <= TanhTolerance, $"{form}: max logit difference {diff}");
            Assert.DoesNotContain(imported.Notes, n => n.Contains("erf", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void A_network_the_ggml_trainer_exported_with_gelu_and_dropout_imports_and_computes_the_same()
    {
        NetworkLayer[] layers = [new() { Type = "flatten" }, new() { Type = "dense", Units = 10 }, new() { Type = "gelu" }, new() { Type = "dropout", Rate = 0.3 },
            new() { Type = "dense" }];
        var path = Path.Combine(_folder, "trained.onnx");
        float[] exported;
        using (var network = GgmlNetwork.Create(layers, new NetworkShape([1, Side, Side]), Classes, new GgmlTrainingOptions { BatchSize = Rows, Seed = 7 }))
        {
            NetworkOnnx.Export(network, network.Weights()).Save(path);
            exported = network.Logits(_pictures, Enumerable.Range(0, Rows).ToArray());
        }

        // GELU as the export writes it (seven nodes in the sigmoid form), dropout as Identity: the trainer's layers again, dropout left out.
        var imported = OnnxNetworkImport.Read(OnnxGraph.Load(path));
        Assert.Equal(["flatten", "dense", "gelu", "dense"], imported.Layers.Select(l => l.Type));
        Assert.Empty(imported.Notes);
        Assert.True(MaxDiff(exported, GgmlLogits(imported)) <= 1e-5);
        Assert.True(MaxDiff(OnnxRuntimeLogits(path), GgmlLogits(imported)) <= TanhTolerance);
    }

    [Fact]
    public void What_the_import_cannot_read_is_refused_naming_the_operator_and_the_node()
    {
        string Refused(string path) => Assert.Throws<NetworkImportException>(() => OnnxNetworkImport.Read(OnnxGraph.Load(path))).Message;

        // An activation ggml does not train.
        var leaky = Refused(ModelWith(w => w.Node("LeakyRelu", ["hidden"], ["activated"], "leaky", "")));
        Assert.Contains("node 'leaky' (LeakyRelu) is a LeakyRelu, which the ggml trainer does not build", leaky);

        // Written out like GELU but with 0.6 for 0.5: not GELU, so the first node is what cannot be read.
        var near = Refused(ModelWith(w => w.Initializer("sqrt2", [MathF.Sqrt(2)], []).Initializer("one", [1f], []).Initializer("c", [0.6f], [])
            .Node("Div", ["hidden", "sqrt2"], ["scaled"], "div", "").Node("Erf", ["scaled"], ["erf"], "erf", "").Node("Add", ["erf", "one"], ["plus1"], "add", "")
            .Node("Mul", ["hidden", "plus1"], ["times"], "mul", "").Node("Mul", ["times", "c"], ["activated"], "mul_c", "")));
        Assert.Contains("node 'div' (Div) is a Div", near);

        // A contrib operator other than Gelu and FastGelu, and a GELU with a bias input.
        var bias = Refused(ModelWith(w =>
            w.Opset(1, "com.microsoft").Initializer("bias", new float[Hidden], [Hidden]).Node("BiasGelu", ["hidden", "bias"], ["activated"], "bias_gelu", "com.microsoft")));
        Assert.Contains("node 'bias_gelu' (BiasGelu) is an operator of domain 'com.microsoft'", bias);
        var fast = Refused(ModelWith(w =>
            w.Opset(1, "com.microsoft").Initializer("bias", new float[Hidden], [Hidden]).Node("FastGelu", ["hidden", "bias"], ["activated"], "fast", "com.microsoft")));
        Assert.Contains("node 'fast' (FastGelu) must be a GELU of its one input", fast);

        // Dropout that is not the identity: its mask read, or in training mode.
        var masked = Refused(Model("erf-written-out", w => w.Initializer("ratio", [0.25f], [])
            .Node("Dropout", ["activated", "ratio"], ["dropped", "mask"], "drop", "")
            .Output("mask", OnnxElementType.Bool, OnnxDimension.Symbolic("N"), Hidden)));
        Assert.Contains("node 'drop' (Dropout) has its mask output read", masked);
        var training = Refused(Model("erf-written-out", w => w.Initializer("ratio", [0.25f], []).Initializer<byte>("training", OnnxElementType.Bool, [1], [])
            .Node("Dropout", ["activated", "ratio", "training"], ["dropped"], "drop_train", "")));
        Assert.Contains("node 'drop_train' (Dropout) must not run in training mode", training);
    }

    // The model of the theory with the GELU replaced by what activate writes (from "hidden" to "activated").
    private string ModelWith(Action<OnnxModelWriter> activate)
    {
        var writer = new OnnxModelWriter("import", 17, irVersion: 9)
            .Input("image", OnnxElementType.Float, OnnxDimension.Symbolic("N"), 1, Side, Side)
            .Output("logits", OnnxElementType.Float, OnnxDimension.Symbolic("N"), Classes)
            .Initializer("w1", _w1, [Hidden, Pixels])
            .Initializer("b1", _b1, [Hidden])
            .Initializer("w2", _w2, [Classes, Hidden])
            .Initializer("b2", _b2, [Classes])
            .Node("Flatten", ["image"], ["flat"], "flatten", "", OnnxAttribute.Int("axis", 1))
            .Node("Gemm", ["flat", "w1", "b1"], ["hidden"], "dense1", "", OnnxAttribute.Int("transB", 1));
        activate(writer);
        writer.Node("Gemm", ["activated", "w2", "b2"], ["logits"], "dense2", "", OnnxAttribute.Int("transB", 1));
        var path = Path.Combine(_folder, "refused-" + Guid.NewGuid().ToString("n")[..6] + ".onnx");
        writer.Save(path);
        return path;
    }
}
