using Maas.Core.Formats.Onnx;
using Maas.Testing;

namespace Maas.Runtimes.Onnx.Tests;

public sealed class UltraFaceTests
{
    [SharedModelFact("ultraface-rfb-320.onnx")]
    public void FindsFacesInTheSamplePhoto()
    {
        Assert.True(SharedModels.Has("faces-sample-320x240.ppm"), "the sample picture sits next to the model");
        var (width, height, rgb) = TestModels.ReadPpm(SharedModels.PathOf("faces-sample-320x240.ppm"));
        Assert.Equal((320, 240), (width, height));

        // NCHW, each channel normalised as (x - 127) / 128.
        var pixels = width * height;
        var input = new float[3 * pixels];
        for (var i = 0; i < pixels; i++)
        {
            for (var c = 0; c < 3; c++)
            {
                input[(c * pixels) + i] = (rgb[(i * 3) + c] - 127f) / 128f;
            }
        }

        using var session = OnnxSession.Open(SharedModels.PathOf("ultraface-rfb-320.onnx"));
        using var tensor = OnnxTensor.Create(input, 1, 3, height, width);
        using var outputs = session.Run([new("input", tensor)]);

        var scores = outputs["scores"];
        Assert.Equal([1L, 4420, 2], scores.Shape);
        Assert.Equal([1L, 4420, 4], outputs["boxes"].Shape);
        var data = scores.GetData<float>();
        var faces = 0;
        var best = 0f;
        for (var anchor = 0; anchor < 4420; anchor++)
        {
            var face = data[(anchor * 2) + 1];
            best = Math.Max(best, face);
            faces += face > 0.7f ? 1 : 0;
        }

        Assert.True(faces >= 1, $"no anchor scored a face above 0.7 (best {best})");
        Assert.True(best > 0.99f, $"best face score {best}");
    }

    [SharedModelFact("ultraface-rfb-320.onnx")]
    public void ReportsTheSignatureAndMetadataOfARealModel()
    {
        using var session = OnnxSession.Open(SharedModels.PathOf("ultraface-rfb-320.onnx"));

        var input = Assert.Single(session.Inputs);
        Assert.Equal("input", input.Name);
        Assert.Equal(OnnxElementType.Float, input.ElementType);
        Assert.Equal([1L, 3, 240, 320], input.Dims);
        Assert.Equal("FP32", input.KServeDatatype);
        Assert.Equal(["scores", "boxes"], session.OutputNames);
        Assert.Equal("pytorch", session.Metadata.ProducerName);
        Assert.True(session.Metadata.IrVersion > 0);
        Assert.Contains(session.Metadata.Opsets, o => o.Domain == "" && o.Version >= 9);
    }
}
