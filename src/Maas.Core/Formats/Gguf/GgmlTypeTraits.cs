namespace Maas.Core.Formats.Gguf;

/// <summary>Block geometry of each <see cref="GgmlType"/>: how many elements a block holds and how many bytes it takes.</summary>
/// <remarks>Values are ggml's type traits of the pinned build (blck_size, type_size); types ggml removed have no entry.</remarks>
public static class GgmlTypeTraits
{
    private static readonly Dictionary<GgmlType, (int BlockSize, int BlockBytes)> Traits = new()
    {
        [GgmlType.F32] = (1, 4),
        [GgmlType.F16] = (1, 2),
        [GgmlType.Q4_0] = (32, 18),
        [GgmlType.Q4_1] = (32, 20),
        [GgmlType.Q5_0] = (32, 22),
        [GgmlType.Q5_1] = (32, 24),
        [GgmlType.Q8_0] = (32, 34),
        [GgmlType.Q8_1] = (32, 36),
        [GgmlType.Q2_K] = (256, 84),
        [GgmlType.Q3_K] = (256, 110),
        [GgmlType.Q4_K] = (256, 144),
        [GgmlType.Q5_K] = (256, 176),
        [GgmlType.Q6_K] = (256, 210),
        [GgmlType.Q8_K] = (256, 292),
        [GgmlType.IQ2_XXS] = (256, 66),
        [GgmlType.IQ2_XS] = (256, 74),
        [GgmlType.IQ3_XXS] = (256, 98),
        [GgmlType.IQ1_S] = (256, 50),
        [GgmlType.IQ4_NL] = (32, 18),
        [GgmlType.IQ3_S] = (256, 110),
        [GgmlType.IQ2_S] = (256, 82),
        [GgmlType.IQ4_XS] = (256, 136),
        [GgmlType.I8] = (1, 1),
        [GgmlType.I16] = (1, 2),
        [GgmlType.I32] = (1, 4),
        [GgmlType.I64] = (1, 8),
        [GgmlType.F64] = (1, 8),
        [GgmlType.IQ1_M] = (256, 56),
        [GgmlType.BF16] = (1, 2),
        [GgmlType.TQ1_0] = (256, 54),
        [GgmlType.TQ2_0] = (256, 66),
        [GgmlType.MXFP4] = (32, 17),
        [GgmlType.NVFP4] = (64, 36),
        [GgmlType.Q1_0] = (128, 18),
        [GgmlType.Q2_0] = (64, 18),
    };

    /// <summary>True when the pinned ggml build knows <paramref name="type"/>.</summary>
    public static bool IsKnown(GgmlType type) => Traits.ContainsKey(type);

    /// <summary>Elements per block (1 for plain types, 32 or 256 for most quantised ones).</summary>
    public static int BlockSize(GgmlType type) => Get(type).BlockSize;

    /// <summary>Bytes per block.</summary>
    public static int BlockBytes(GgmlType type) => Get(type).BlockBytes;

    /// <summary>The upper-case name used in file names and model cards, e.g. "Q8_0".</summary>
    public static string Name(GgmlType type) => Enum.IsDefined(type) ? type.ToString() : $"type{(uint)type}";

    /// <summary>Bytes one tensor of this type and shape takes, or null when the shape cannot be stored in this type.</summary>
    /// <remarks>Rows must hold whole blocks (ggml refuses files where they do not); overflow also yields null.</remarks>
    public static ulong? ByteSize(GgmlType type, IReadOnlyList<long> dimensions)
    {
        if (!Traits.TryGetValue(type, out var t))
        {
            return null;
        }

        var rowElements = dimensions.Count == 0 ? 1 : dimensions[0];
        if (rowElements < 0 || rowElements % t.BlockSize != 0)
        {
            return null;
        }

        try
        {
            var bytes = checked((ulong)(rowElements / t.BlockSize) * (ulong)t.BlockBytes);
            for (var i = 1; i < dimensions.Count; i++)
            {
                if (dimensions[i] < 0)
                {
                    return null;
                }

                bytes = checked(bytes * (ulong)dimensions[i]);
            }

            return bytes;
        }
        catch (OverflowException)
        {
            return null;
        }
    }

    private static (int BlockSize, int BlockBytes) Get(GgmlType type) =>
        Traits.TryGetValue(type, out var t) ? t : throw new ArgumentOutOfRangeException(nameof(type), type, "not a ggml type of this build");
}
