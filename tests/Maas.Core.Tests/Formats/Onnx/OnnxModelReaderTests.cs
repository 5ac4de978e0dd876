using Google.Protobuf;
using Maas.Core.Formats;
using Maas.Core.Formats.Onnx;
using Maas.Core.Formats.Onnx.Proto;
using Maas.Testing;

namespace Maas.Core.Tests.Formats.Onnx;

public sealed class OnnxModelReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("maas-onnx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [SharedModelFact("ultraface-rfb-320.onnx")]
    public void ReadsTheUltraFaceSignatureWithoutItsInitializerInputs()
    {
        var info = OnnxModelReader.Read(SharedModels.PathOf("ultraface-rfb-320.onnx"));

        var input = Assert.Single(info.Inputs);
        Assert.Equal("input", input.Name);
        Assert.Equal("FP32", input.KServeDatatype);
        Assert.Equal((int)OnnxElementType.Float, input.ElementType);
        Assert.Equal([1L, 3, 240, 320], input.Dims);
        Assert.Equal(["scores", "boxes"], info.Outputs.Select(o => o.Name));
        Assert.Equal([1L, 4420, 2], info.Outputs[0].Dims);
        Assert.Equal([1L, 4420, 4], info.Outputs[1].Dims);
        Assert.True(info.IrVersion > 0);
        Assert.True(info.InitializerCount > 10);
        Assert.NotNull(info.DefaultOpset);
        Assert.Empty(info.ExternalDataFiles);
    }

    [SharedModelFact("ultraface-rfb-320.onnx")]
    public void DetectsOnnxAndGgufFromTheirFirstBytes()
    {
        Assert.Equal(ModelFormat.Onnx, ModelFormatDetector.Detect(SharedModels.PathOf("ultraface-rfb-320.onnx")));
        Assert.Equal(ModelFormat.Onnx, ModelFormatDetector.Detect(OnnxModelWriter.Identity(OnnxElementType.Float, 1).ToBytes()));
        Assert.Equal(ModelFormat.Gguf, ModelFormatDetector.Detect("GGUF\x03\0\0\0"u8));
        Assert.Null(ModelFormatDetector.Detect([]));
        Assert.Null(ModelFormatDetector.Detect("hello world, not a model"u8));
        Assert.Null(ModelFormatDetector.Detect("{\"json\": true}"u8));
        Assert.Null(ModelFormatDetector.Detect([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A])); // PNG
    }

    [Theory]
    [InlineData(OnnxElementType.Float, "FP32")]
    [InlineData(OnnxElementType.Double, "FP64")]
    [InlineData(OnnxElementType.Float16, "FP16")]
    [InlineData(OnnxElementType.BFloat16, "BF16")]
    [InlineData(OnnxElementType.Int8, "INT8")]
    [InlineData(OnnxElementType.Int16, "INT16")]
    [InlineData(OnnxElementType.Int32, "INT32")]
    [InlineData(OnnxElementType.Int64, "INT64")]
    [InlineData(OnnxElementType.UInt8, "UINT8")]
    [InlineData(OnnxElementType.UInt16, "UINT16")]
    [InlineData(OnnxElementType.UInt32, "UINT32")]
    [InlineData(OnnxElementType.UInt64, "UINT64")]
    [InlineData(OnnxElementType.Bool, "BOOL")]
    [InlineData(OnnxElementType.String, "BYTES")]
    [InlineData(OnnxElementType.Float8E4M3FN, "FLOAT8E4M3FN")]
    public void IdentityModelsRoundTripTheirTypeAndSymbolicShape(OnnxElementType type, string datatype)
    {
        var path = Path.Combine(_dir, "identity.onnx");
        OnnxModelWriter.Identity(type, "batch", 3, OnnxDimension.Unknown).Save(path);

        var info = OnnxModelReader.Read(path);

        foreach (var value in new[] { Assert.Single(info.Inputs), Assert.Single(info.Outputs) })
        {
            Assert.Equal((int)type, value.ElementType);
            Assert.Equal(datatype, value.KServeDatatype);
            Assert.Equal([OnnxDimension.Symbolic("batch"), new OnnxDimension(3), OnnxDimension.Unknown], value.Shape);
            Assert.Equal([-1L, 3, -1], value.Dims);
        }
    }

    [Fact]
    public void ReadsProducerOpsetsAndMetadata()
    {
        var bytes = OnnxModelWriter.Identity(OnnxElementType.Float, 2)
            .Producer("maas-tests", "0.1")
            .Identify("ai.maas", 7)
            .Description("an identity")
            .Opset(1, "com.microsoft")
            .Metadata("author", "maas")
            .Metadata("labels", "cat,dog")
            .ToBytes();

        var info = OnnxModelReader.Read(bytes);

        Assert.Equal(8, info.IrVersion);
        Assert.Equal("maas-tests", info.ProducerName);
        Assert.Equal("0.1", info.ProducerVersion);
        Assert.Equal("ai.maas", info.Domain);
        Assert.Equal(7, info.ModelVersion);
        Assert.Equal("an identity", info.Description);
        Assert.Equal([new OnnxOpset("", 17), new OnnxOpset("com.microsoft", 1)], info.Opsets);
        Assert.Equal(17, info.DefaultOpset);
        Assert.Equal("maas", info.Metadata["author"]);
        Assert.Equal("cat,dog", info.Metadata["labels"]);
    }

    [Fact]
    public void MlpWithExternalWeightsListsItsSideFileAndLeavesWeightsOutOfTheModel()
    {
        var path = Path.Combine(_dir, "mlp.onnx");
        OnnxModelWriter.Mlp(64, [128], 10, externalWeights: true).Save(path);

        var info = OnnxModelReader.Read(path);

        Assert.Equal(["mlp.onnx.data"], info.ExternalDataFiles);
        Assert.Equal(4, info.InitializerCount);
        Assert.Equal("input", Assert.Single(info.Inputs).Name);
        Assert.Equal([-1L, 64], info.Inputs[0].Dims);
        Assert.Equal("batch", info.Inputs[0].Shape[0].Name);
        Assert.Equal([-1L, 10], Assert.Single(info.Outputs).Dims);
        Assert.True(new FileInfo(path).Length < 2048, "weights must live in the side file");
        Assert.True(new FileInfo(path + ".data").Length >= ((64 * 128) + 128 + (128 * 10) + 10) * 4);
    }

    [Fact]
    public void MissingExternalDataFileIsNamedWithItsInitializer()
    {
        var path = Path.Combine(_dir, "mlp.onnx");
        OnnxModelWriter.Mlp(4, [8], 2, externalWeights: true).Save(path, "weights.bin");
        File.Delete(Path.Combine(_dir, "weights.bin"));

        var error = Assert.Throws<InvalidModelFileException>(() => OnnxModelReader.Read(path));

        Assert.Equal("external data file 'weights.bin' referenced by initializer 'fc0.weight' is missing", error.Message);
    }

    [Fact]
    public void ExternalDataPastTheEndOfItsFileIsRefused()
    {
        var path = Path.Combine(_dir, "mlp.onnx");
        OnnxModelWriter.Mlp(4, [8], 2, externalWeights: true).Save(path);
        using (var side = new FileStream(path + ".data", FileMode.Open))
        {
            side.SetLength(side.Length - 4);
        }

        var error = Assert.Throws<InvalidModelFileException>(() => OnnxModelReader.Read(path));

        Assert.Contains("initializer 'fc1.bias' ends at byte", error.Message);
        Assert.Contains("'mlp.onnx.data' has only", error.Message);
    }

    [Fact]
    public void ExternalDataOutsideTheModelFolderIsRefused()
    {
        var writer = OnnxModelWriter.Mlp(4, [], 2, externalWeights: true);
        var path = Path.Combine(_dir, "mlp.onnx");
        writer.Save(path, "w.bin");
        var model = OnnxModelReader.Parse(path);
        model.Graph.Initializer[0].ExternalData.First(e => e.Key == "location").Value = "../../etc/passwd";
        File.WriteAllBytes(path, model.ToByteArray());

        var error = Assert.Throws<InvalidModelFileException>(() => OnnxModelReader.Read(path));

        Assert.Contains("'../../etc/passwd' referenced by initializer 'fc0.weight' is outside the model's folder", error.Message);
    }

    [Fact]
    public void TruncatedFileSaysWhereItEnds()
    {
        var path = Path.Combine(_dir, "cut.onnx");
        var bytes = OnnxModelWriter.Mlp(16, [32], 4).ToBytes();
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var error = Assert.Throws<InvalidModelFileException>(() => OnnxModelReader.Read(path));

        Assert.Contains($"truncated protobuf at byte {bytes.Length / 2}", error.Message);
    }

    [Fact]
    public void ModelWithoutAGraphIsRefused()
    {
        var bytes = new ModelProto { IrVersion = 8, ProducerName = "x" }.ToByteArray();

        var error = Assert.Throws<InvalidModelFileException>(() => OnnxModelReader.Read(bytes));

        Assert.Contains("no graph", error.Message);
    }

    [Fact]
    public void RandomBytesAndMissingFilesAreRefusedWithAReason()
    {
        var garbage = Path.Combine(_dir, "garbage.onnx");
        var bytes = new byte[4096];
        new Random(3).NextBytes(bytes);
        File.WriteAllBytes(garbage, bytes);

        Assert.Throws<InvalidModelFileException>(() => OnnxModelReader.Read(garbage));
        var missing = Assert.Throws<InvalidModelFileException>(() => OnnxModelReader.Read(Path.Combine(_dir, "nope.onnx")));
        Assert.Contains("does not exist", missing.Message);
    }

    [Fact]
    public void InlineWeightWithTooFewBytesIsRefused()
    {
        var writer = OnnxModelWriter.Mlp(4, [], 2);
        writer.Model.Graph.Initializer[0].RawData = ByteString.CopyFrom(new byte[5]);

        var error = Assert.Throws<InvalidModelFileException>(() => OnnxModelReader.Read(writer.ToBytes()));

        Assert.Equal("initializer 'fc0.weight' holds 5 bytes of data but its shape [4,2] needs 32", error.Message);
    }

    [Fact]
    public void DenseLayerReferenceMatchesHandComputation()
    {
        var layer = new DenseLayer(2, 1, [2f, -1f], [0.5f]);

        Assert.Equal([0.5f + 2 - 3, 0.5f], layer.Apply([1f, 3f, 0f, 0f], batch: 2, relu: false));
        Assert.Equal([0f, 0.5f], layer.Apply([1f, 3f, 0f, 0f], batch: 2, relu: true));
    }

    [Fact]
    public void Packed_tensor_dimensions_are_read_as_proto3_writers_write_them()
    {
        // ML.NET's ONNX export (proto3) packs a tensor's dims into one length-delimited field; onnx.proto (proto2) does not.
        byte[] tensor = [0x0A, 0x02, 0x02, 0x03, 0x10, 0x01, 0x42, 0x01, (byte)'w', 0x4A, 0x18, .. new byte[24]];
        byte[] shape = [0x0A, 0x02, 0x08, 0x02, 0x0A, 0x02, 0x08, 0x03];
        byte[] tensorType = [0x08, 0x01, 0x12, (byte)shape.Length, .. shape];
        byte[] output = [0x0A, 0x01, (byte)'w', 0x12, (byte)(tensorType.Length + 2), 0x0A, (byte)tensorType.Length, .. tensorType];
        byte[] graph = [0x2A, (byte)tensor.Length, .. tensor, 0x12, 0x01, (byte)'g', 0x62, (byte)output.Length, .. output];
        byte[] model = [0x08, 0x08, 0x42, 0x02, 0x10, 0x11, 0x3A, (byte)graph.Length, .. graph];

        var info = OnnxModelReader.Read(model);

        Assert.Equal(8, info.IrVersion);
        Assert.Equal([2L, 3L], info.Outputs.Single().Dims);
    }
}
