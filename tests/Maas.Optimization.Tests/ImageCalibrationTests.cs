using Maas.Core.Datasets;
using Maas.Core.Formats.Onnx;
using Maas.Optimization.Onnx;
using Maas.Runtimes.Onnx;
using Maas.Testing;
using SkiaSharp;

namespace Maas.Optimization.Tests;

/// <summary>Static int8 calibrated on pictures: the preprocessing of each picture, a generated conv net, and UltraFace finding the same faces.</summary>
public sealed class ImageCalibrationTests : IDisposable
{
    private static readonly ImagePreprocessing Symmetric = new([127, 127, 127], [128, 128, 128], false, "test");
    private readonly string _folder = Directory.CreateTempSubdirectory("maas-opt-images-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Pictures_become_inputs_resized_normalised_and_laid_out_as_the_model_takes_them()
    {
        // A 2x2 colour picture, row by row: (r, g, b) per pixel.
        byte[] picture = [255, 0, 127, 127, 255, 0, 0, 127, 255, 63, 63, 63];
        var first = CalibrationImages.ToInput(picture, 2, 2, 3, new ImageInputLayout(true, 3, 2, 2), Symmetric);
        Assert.Equal([1f, 0, -127 / 128f, -0.5f, -127 / 128f, 1, 0, -0.5f], first[..8]); // the red plane, then the green one
        var last = CalibrationImages.ToInput(picture, 2, 2, 3, new ImageInputLayout(false, 3, 2, 2), Symmetric);
        Assert.Equal([1f, -127 / 128f, 0], last[..3]); // the first pixel's three channels

        var bgr = CalibrationImages.ToInput(picture, 2, 2, 3, new ImageInputLayout(false, 3, 2, 2), Symmetric with { Bgr = true });
        Assert.Equal([0f, -127 / 128f, 1], bgr[..3]);

        // Open height and width take the picture's own size; grey repeats into three channels; colour turns grey by luma.
        var grey = CalibrationImages.ToInput([0, 255, 255, 0], 2, 2, 1, new ImageInputLayout(true, 3, 0, 0), new([0, 0, 0], [255, 255, 255], false, "unit"));
        Assert.Equal([0f, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0], grey);
        var luma = CalibrationImages.ToInput([255, 0, 0], 1, 1, 3, new ImageInputLayout(true, 1, 1, 1), new([0], [1], false, "raw"));
        Assert.Equal(0.299f * 255, luma[0], 3);

        // Resizing 2 pixels to 4 interpolates between the centres and holds the edges.
        var wide = CalibrationImages.ToInput([0, 200], 1, 2, 1, new ImageInputLayout(true, 1, 1, 4), new([0], [1], false, "raw"));
        Assert.Equal([0f, 50, 150, 200], wide);
        var small = CalibrationImages.ToInput(Enumerable.Repeat((byte)90, 6 * 8).ToArray(), 6, 8, 1, new ImageInputLayout(true, 1, 3, 3), new([0], [1], false, "raw"));
        Assert.All(small, v => Assert.Equal(90f, v));
    }

    [Fact]
    public void Static_int8_of_a_generated_conv_net_calibrated_on_an_image_folder_is_within_tolerance()
    {
        var source = Path.Combine(_folder, "convnet.onnx");
        ConvModels.Classifier(size: 16, classes: 4, seed: 3).Save(source);
        var zip = DatasetFiles.Zip(ConvModels.Pictures(24, 24, 20, seed: 5).Select((png, i) => ($"pictures/class{i % 2}/{i}.png", png)).ToArray());
        var table = DatasetParser.Parse(new MemoryStream(zip), DatasetFormat.Idx, gzip: false);
        Assert.Equal(DatasetFormat.ImageFolder, table.DetectedFormat);
        Assert.Equal([20, 24, 3], table.Columns[0].Shape);
        var layout = new ImageInputLayout(true, 3, 16, 16);
        var inputs = table.Rows.Select(r => CalibrationImages.ToInput((byte[])r[0]!, 20, 24, 3, layout, Symmetric)).ToArray();

        var graph = OnnxGraph.Load(source);
        var ranges = OnnxCalibrator.Collect(source, OnnxStaticQuantizer.Activations(graph),
            inputs.Select(i => new[] { new KeyValuePair<string, OnnxTensor>("input", OnnxTensor.Create(i, 1, 3, 16, 16)) }), CalibrationMethod.MinMax, 100, CancellationToken.None);
        var info = OnnxStaticQuantizer.Rewrite(graph, ranges);
        var output = Path.Combine(_folder, "convnet-int8.onnx");
        graph.Save(output);
        OnnxModelReader.Read(output);

        Assert.Equal(2, info.ConvsQuantized);
        Assert.Equal(1, info.GemmsQuantized);
        Assert.Equal(4, info.ActivationsQuantized); // the picture, both ReLUs after the convolutions, the pooled features
        Assert.Equal(2, info.ConvOutputsQuantized);
        Assert.Equal(2, info.BiasesQuantized);
        Assert.InRange(ranges["input"].Min, -127 / 128f, -0.5f); // symmetric preprocessing: pixels of 0-255 land in [-0.99, 1]
        Assert.InRange(ranges["input"].Max, 0.5f, 1f);
        Assert.True(ranges["conv0.relu"].Min >= 0);
        var c = OnnxComparison.Compare(source, output, inputs.Length, seed: 1, timedRuns: 2, CancellationToken.None, s => [OnnxTensor.Create(inputs[s], 1, 3, 16, 16)]);
        Assert.Equal(0, c.NonFiniteValues);
        Assert.True(c.MaxAbsDiff > 0, "int8 must change the outputs at least a little");
        Assert.True(c.MeanAbsDiff / c.SourceMeanAbs < 0.05, $"relative mean diff {c.MeanAbsDiff / c.SourceMeanAbs}");
        Assert.True(c.Top1Agreement >= 0.9, $"top-1 agreement {c.Top1Agreement}");
    }

    [SharedModelFact("ultraface-rfb-320.onnx")]
    public void UltraFace_static_int8_calibrated_on_a_few_pictures_finds_the_same_faces()
    {
        var source = SharedModels.PathOf("ultraface-rfb-320.onnx");
        var layout = new ImageInputLayout(true, 3, 240, 320);

        // A few pictures: the sample photo as stored (resized by calibration), mirrored, darker, and a crop of it.
        using var photo = SKBitmap.Decode(SharedModels.PathOf("faces-sample.jpg"));
        var pictures = new[] { Rgb(photo, false, 1f, null), Rgb(photo, true, 1f, null), Rgb(photo, false, 0.7f, null),
            Rgb(photo, false, 1f, new SKRectI(0, 0, photo.Width * 2 / 3, photo.Height * 2 / 3)) };
        var inputs = pictures.Select(p => CalibrationImages.ToInput(p.Pixels, p.Height, p.Width, 3, layout, Symmetric)).ToArray();
        var graph = OnnxGraph.Load(source);
        var ranges = OnnxCalibrator.Collect(source, OnnxStaticQuantizer.Activations(graph), inputs.Select(
            i => new[] { new KeyValuePair<string, OnnxTensor>("input", OnnxTensor.Create(i, 1, 3, 240, 320)) }), CalibrationMethod.MinMax, 100, CancellationToken.None);
        var info = OnnxStaticQuantizer.Rewrite(graph, ranges);
        var output = Path.Combine(_folder, "ultraface-int8-static.onnx");
        graph.Save(output);
        OnnxModelReader.Read(output);
        Assert.True(info.ConvsQuantized > 20, $"{info.ConvsQuantized} convs");
        Assert.Equal(9, info.OpsetUpgradedFrom); // UltraFace is opset 9: upgraded to 13 for per-channel weights
        Assert.True(info.PerChannel);
        Assert.True(info.BatchNormsFolded > 20, $"{info.BatchNormsFolded} batch norms folded");
        Assert.True(info.ConvOutputsQuantized > 20, $"{info.ConvOutputsQuantized} conv outputs quantised");
        Assert.Equal(info.ConvsQuantized, info.BiasesQuantized);
        Assert.True(new FileInfo(output).Length < new FileInfo(source).Length * 0.5);

        // The sample picture at the model's size, as the inference tests read it.
        var ppm = SamplePicture();
        var before = Faces(source, ppm);
        var after = Faces(output, ppm);
        Assert.InRange(before.Count, 10, 80); // a group photo: 44 faces after suppression
        foreach (var face in before)
        {
            var best = after.Select(f => Iou(face, f)).DefaultIfEmpty(0).Max();
            Assert.True(best >= 0.9, $"a face at ({face.X0:0.000}, {face.Y0:0.000}, {face.X1:0.000}, {face.Y1:0.000}) has IoU {best:0.000} at most with the int8 model's " +
                $"({after.Count} faces vs {before.Count})");
        }

        Assert.InRange(after.Count, before.Count - 1, before.Count + 1);
    }

    [SharedModelFact("ultraface-rfb-320.onnx")]
    public void UltraFace_int8_dynamic_keeps_every_face_of_the_sample_photo_at_box_iou_0_9()
    {
        // The threshold: each face the float model finds on the sample picture is found again with IoU >= 0.9.
        const double MinIou = 0.9;
        var source = SharedModels.PathOf("ultraface-rfb-320.onnx");
        var graph = OnnxGraph.Load(source);
        var info = OnnxInt8Quantizer.Rewrite(graph);
        var output = Path.Combine(_folder, "ultraface-int8-dynamic.onnx");
        graph.Save(output);
        OnnxModelReader.Read(output);
        Assert.True(info.ConvsQuantized > 20, $"{info.ConvsQuantized} convs");

        var ppm = SamplePicture();
        var before = Faces(source, ppm);
        var after = Faces(output, ppm);
        Assert.InRange(before.Count, 10, 80);
        var ious = before.Select(face => after.Select(f => Iou(face, f)).DefaultIfEmpty(0).Max()).ToArray();
        Assert.True(ious.All(iou => iou >= MinIou),
            $"{ious.Count(iou => iou < MinIou)} of {before.Count} faces have IoU below {MinIou} (smallest {ious.Min():0.000}); the int8 model finds {after.Count}");
        Assert.InRange(after.Count, before.Count - 1, before.Count + 1);
    }

    private static (byte[] Pixels, int Height, int Width) Rgb(SKBitmap photo, bool mirror, float brightness, SKRectI? crop)
    {
        var area = crop ?? new SKRectI(0, 0, photo.Width, photo.Height);
        var pixels = new byte[area.Width * area.Height * 3];
        for (var y = 0; y < area.Height; y++)
        {
            for (var x = 0; x < area.Width; x++)
            {
                var p = photo.GetPixel(area.Left + (mirror ? area.Width - 1 - x : x), area.Top + y);
                var at = ((y * area.Width) + x) * 3;
                (pixels[at], pixels[at + 1], pixels[at + 2]) = ((byte)(p.Red * brightness), (byte)(p.Green * brightness), (byte)(p.Blue * brightness));
            }
        }

        return (pixels, area.Height, area.Width);
    }

    // The 320x240 PPM's pixels (P6: magic, width, height, maximum, each followed by one whitespace), as model input.
    private static float[] SamplePicture()
    {
        var ppm = File.ReadAllBytes(SharedModels.PathOf("faces-sample-320x240.ppm"));
        var (offset, fields) = (0, 0);
        while (fields < 4)
        {
            while (char.IsWhiteSpace((char)ppm[offset]))
            {
                offset++;
            }

            while (!char.IsWhiteSpace((char)ppm[offset]))
            {
                offset++;
            }

            fields++;
        }

        return CalibrationImages.ToInput(ppm[(offset + 1)..], 240, 320, 3, new ImageInputLayout(true, 3, 240, 320), Symmetric);
    }

    private sealed record Box(float X0, float Y0, float X1, float Y1, float Score);

    // The faces UltraFace finds: anchors scoring above 0.7, then non-maximum suppression at IoU 0.3.
    private static List<Box> Faces(string model, float[] picture)
    {
        using var session = OnnxSession.Open(model);
        using var input = OnnxTensor.Create(picture, 1, 3, 240, 320);
        using var outputs = session.Run([new KeyValuePair<string, OnnxTensor>("input", input)], ["scores", "boxes"]);
        var scores = outputs[0].GetData<float>();
        var boxes = outputs[1].GetData<float>();
        var candidates = new List<Box>();
        for (var i = 0; i < scores.Length / 2; i++)
        {
            if (scores[(i * 2) + 1] > 0.7f)
            {
                candidates.Add(new Box(boxes[i * 4], boxes[(i * 4) + 1], boxes[(i * 4) + 2], boxes[(i * 4) + 3], scores[(i * 2) + 1]));
            }
        }

        var kept = new List<Box>();
        foreach (var box in candidates.OrderByDescending(b => b.Score))
        {
            if (kept.All(k => Iou(k, box) < 0.3))
            {
                kept.Add(box);
            }
        }

        return kept;
    }

    private static double Iou(Box a, Box b)
    {
        var w = Math.Max(0, Math.Min(a.X1, b.X1) - Math.Max(a.X0, b.X0));
        var h = Math.Max(0, Math.Min(a.Y1, b.Y1) - Math.Max(a.Y0, b.Y0));
        var inter = w * h;
        var union = ((a.X1 - a.X0) * (a.Y1 - a.Y0)) + ((b.X1 - b.X0) * (b.Y1 - b.Y0)) - inter;
        return union > 0 ? inter / union : 0;
    }
}
