using Maas.Core.Formats;
using Maas.Core.Formats.Onnx;
using Maas.Testing;

namespace Maas.Core.Tests.Formats.Onnx;

public sealed class OnnxModelHeaderTests
{
    [SharedModelFact("ultraface-rfb-320.onnx")]
    public void HeaderOfARealModelMatchesTheFullParse()
    {
        var path = SharedModels.PathOf("ultraface-rfb-320.onnx");
        var full = OnnxModelReader.Read(path);

        var fromFile = OnnxModelHeader.Read(path);
        var fromBytes = OnnxModelHeader.Read(File.ReadAllBytes(path));

        foreach (var header in new[] { fromFile, fromBytes })
        {
            Assert.Equal(full.IrVersion, header.IrVersion);
            Assert.Equal(full.ProducerName, header.ProducerName);
            Assert.Equal(full.ProducerVersion, header.ProducerVersion);
            Assert.Equal(full.Opsets, header.Opsets);
        }
    }

    [Fact]
    public void HeaderOfAWrittenModelHasItsOpsetsAndProducer()
    {
        var bytes = OnnxModelWriter.Identity(OnnxElementType.Int64, 2).Producer("p", "9").Opset(3, "ai.onnx.ml").Identify("d", 4).ToBytes();

        var header = OnnxModelHeader.Read(bytes);

        Assert.Equal(new OnnxModelHeader(8, "p", "9", "d", 4, []) with { Opsets = header.Opsets }, header);
        Assert.Equal([new OnnxOpset("", 17), new OnnxOpset("ai.onnx.ml", 3)], header.Opsets);
    }

    [Fact]
    public void TruncatedModelIsRefused()
    {
        var bytes = OnnxModelWriter.Mlp(8, [8], 2).ToBytes();

        var error = Assert.Throws<InvalidModelFileException>(() => OnnxModelHeader.Read(bytes.AsSpan(0, bytes.Length - 10)));

        Assert.Contains("runs past the end", error.Message);
    }
}
