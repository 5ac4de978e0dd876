using Maas.Core.Formats.Onnx;

namespace Maas.Runtimes.Onnx.Tests;

/// <summary>
/// A ZipMap's output (a sequence of maps, scikit-learn's default for classifier probabilities) comes out of a run as an
/// FP32 tensor [rows, classes], its columns the map's keys in sorted order, whatever order the classifier names them.
/// </summary>
public sealed class ZipMapOutputTests
{
    [Fact]
    public void Integer_keys_become_columns_in_numeric_order()
    {
        using var session = OnnxSession.FromBytes(OnnxModelWriter.ZipMapClassifier(intLabels: [7, -1, 9]).ToBytes());
        var probabilities = session.Outputs.Single(o => o.Name == "probabilities");
        Assert.True(probabilities.FromMaps);
        Assert.Equal(OnnxElementType.Float, probabilities.ElementType);
        Assert.Equal([-1L, -1], probabilities.Dims);

        // The classifier's weights are the identity: each row's scores are its input, in label order 7, -1, 9.
        using var input = OnnxTensor.Create(new float[] { 0.1f, 0.2f, 0.7f, 0.5f, 0.4f, 0.1f }, 2, 3);
        using var outputs = session.Run([new("input", input)]);
        Assert.Equal([2L, 3], outputs["probabilities"].Shape);
        Assert.Equal([0.2f, 0.1f, 0.7f, 0.4f, 0.5f, 0.1f], outputs["probabilities"].ToArray<float>()); // columns -1, 7, 9
        Assert.Equal([9L, 7], outputs["label"].ToArray<long>());
    }

    [Fact]
    public void String_keys_become_columns_in_utf8_byte_order()
    {
        using var session = OnnxSession.FromBytes(OnnxModelWriter.ZipMapClassifier(stringLabels: ["zebra", "Ému", "ant"]).ToBytes());
        using var input = OnnxTensor.Create(new float[] { 1, 2, 3 }, 1, 3);
        using var outputs = session.Run([new("input", input)], ["probabilities"]);
        Assert.Equal([1L, 3], outputs[0].Shape);
        Assert.Equal([3f, 1f, 2f], outputs[0].ToArray<float>()); // ant, zebra, Ému (0xC3 after 'z')
        Assert.Equal(["ant", "zebra", "Ému"], ZipMapColumns.Order(["zebra", "Ému", "ant"]));
    }
}
