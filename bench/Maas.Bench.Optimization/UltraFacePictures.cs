using Maas.Optimization.Onnx;
using Maas.Runtimes.Onnx;
using SkiaSharp;

/// <summary>
/// Pictures for UltraFace made from the shared sample photo (calibration and held-out sets that do not overlap), and the
/// faces a model finds on one: anchors above 0.7, then non-maximum suppression at IoU 0.3.
/// </summary>
internal static class UltraFacePictures
{
    public static readonly ImageInputLayout Layout = new(true, 3, 240, 320);

    private static readonly ImagePreprocessing Symmetric = new([127, 127, 127], [128, 128, 128], false, "symmetric");

    /// <summary>Calibration: the photo mirrored, darker, and two corner crops.</summary>
    public static float[][] Calibration(string shared)
    {
        using var photo = SKBitmap.Decode(Path.Combine(shared, "faces-sample.jpg"));
        var (w, h) = (photo.Width, photo.Height);
        return
        [
            Input(photo, true, 1f, new SKRectI(0, 0, w, h)),
            Input(photo, false, 0.7f, new SKRectI(0, 0, w, h)),
            Input(photo, false, 1f, new SKRectI(0, 0, w * 2 / 3, h * 2 / 3)),
            Input(photo, false, 1f, new SKRectI(w / 3, h / 3, w, h)),
        ];
    }

    /// <summary>Held out: the photo as it is, brighter, and a centre crop; the first is the one faces are counted on.</summary>
    public static float[][] HeldOut(string shared)
    {
        using var photo = SKBitmap.Decode(Path.Combine(shared, "faces-sample.jpg"));
        var (w, h) = (photo.Width, photo.Height);
        return
        [
            Input(photo, false, 1f, new SKRectI(0, 0, w, h)),
            Input(photo, false, 1.2f, new SKRectI(0, 0, w, h)),
            Input(photo, false, 1f, new SKRectI(w / 6, h / 6, w * 5 / 6, h * 5 / 6)),
        ];
    }

    /// <summary>The faces found by each, the source's faces the rewrite finds at IoU 0.9 or more, and the smallest IoU among those.</summary>
    public static (int Source, int Candidate, int Matched, double MinMatchedIou) Faces(string source, string candidate, float[] picture)
    {
        var a = Find(source, picture);
        var b = Find(candidate, picture);
        var best = a.Select(f => b.Select(g => Iou(f, g)).DefaultIfEmpty(0).Max()).Where(iou => iou >= 0.9).ToArray();
        return (a.Count, b.Count, best.Length, best.DefaultIfEmpty(double.NaN).Min());
    }

    private static float[] Input(SKBitmap photo, bool mirror, float brightness, SKRectI area)
    {
        var pixels = new byte[area.Width * area.Height * 3];
        for (var y = 0; y < area.Height; y++)
        {
            for (var x = 0; x < area.Width; x++)
            {
                var p = photo.GetPixel(area.Left + (mirror ? area.Width - 1 - x : x), area.Top + y);
                var at = ((y * area.Width) + x) * 3;
                pixels[at] = (byte)Math.Min(255, p.Red * brightness);
                pixels[at + 1] = (byte)Math.Min(255, p.Green * brightness);
                pixels[at + 2] = (byte)Math.Min(255, p.Blue * brightness);
            }
        }

        return CalibrationImages.ToInput(pixels, area.Height, area.Width, 3, Layout, Symmetric);
    }

    private static List<float[]> Find(string model, float[] picture)
    {
        using var session = OnnxSession.Open(model);
        using var input = OnnxTensor.Create(picture, 1, 3, 240, 320);
        using var outputs = session.Run([new KeyValuePair<string, OnnxTensor>("input", input)], ["scores", "boxes"]);
        var scores = outputs[0].GetData<float>();
        var boxes = outputs[1].GetData<float>();
        var candidates = new List<(float[] Box, float Score)>();
        for (var i = 0; i < scores.Length / 2; i++)
        {
            if (scores[(i * 2) + 1] > 0.7f)
            {
                candidates.Add((boxes.Slice(i * 4, 4).ToArray(), scores[(i * 2) + 1]));
            }
        }

        var kept = new List<float[]>();
        foreach (var (box, _) in candidates.OrderByDescending(c => c.Score))
        {
            if (kept.All(k => Iou(k, box) < 0.3))
            {
                kept.Add(box);
            }
        }

        return kept;
    }

    private static double Iou(float[] a, float[] b)
    {
        var w = Math.Max(0, Math.Min(a[2], b[2]) - Math.Max(a[0], b[0]));
        var h = Math.Max(0, Math.Min(a[3], b[3]) - Math.Max(a[1], b[1]));
        var union = ((a[2] - a[0]) * (a[3] - a[1])) + ((b[2] - b[0]) * (b[3] - b[1])) - (w * h);
        return union > 0 ? w * h / union : 0;
    }
}
