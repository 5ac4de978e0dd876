using System.Globalization;
using System.Text;

namespace Maas.Core.Formats.Onnx;

/// <summary>
/// An ONNX-ML <c>ZipMap</c> output (a sequence of maps from class to probability, one per row) is served as an FP32
/// tensor [rows, classes], since the Open Inference Protocol carries tensors only. Its columns are the maps' keys in
/// sorted order (numerically for integer keys, by UTF-8 bytes for strings), the order ONNX Runtime's maps iterate in
/// and, for scikit-learn's exports, the order of the classifier's classes; the output's class labels follow it.
/// </summary>
public static class ZipMapColumns
{
    /// <summary>Integer keys in column order.</summary>
    public static long[] Order(IEnumerable<long> keys)
    {
        var sorted = keys.ToArray();
        Array.Sort(sorted);
        return sorted;
    }

    /// <summary>String keys in column order.</summary>
    public static string[] Order(IEnumerable<string> keys)
    {
        var sorted = keys.ToArray();
        Array.Sort(sorted, Utf8Order.Instance);
        return sorted;
    }

    /// <summary>Integer keys as the labels they are shown as (decimal).</summary>
    public static string[] Labels(IEnumerable<long> keys) => keys.Select(k => k.ToString(CultureInfo.InvariantCulture)).ToArray();

    // Ordinal UTF-16 order differs from UTF-8 byte order where surrogate pairs meet U+E000-U+FFFF.
    private sealed class Utf8Order : IComparer<string>
    {
        public static readonly Utf8Order Instance = new();

        public int Compare(string? x, string? y) =>
            Encoding.UTF8.GetBytes(x ?? "").AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(y ?? ""));
    }
}
