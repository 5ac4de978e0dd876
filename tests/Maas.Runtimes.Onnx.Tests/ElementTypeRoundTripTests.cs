using Maas.Core.Formats.Onnx;

namespace Maas.Runtimes.Onnx.Tests;

// An Identity model per element type, written by OnnxModelWriter, fed and fetched through a real session.
public sealed class ElementTypeRoundTripTests
{
    public static TheoryData<OnnxElementType> AllTypes() =>
    [
        OnnxElementType.Float, OnnxElementType.Double, OnnxElementType.Float16, OnnxElementType.BFloat16,
        OnnxElementType.Int8, OnnxElementType.Int16, OnnxElementType.Int32, OnnxElementType.Int64,
        OnnxElementType.UInt8, OnnxElementType.UInt16, OnnxElementType.UInt32, OnnxElementType.UInt64,
        OnnxElementType.Bool, OnnxElementType.String,
    ];

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void IdentityReturnsWhatWasFed(OnnxElementType type)
    {
        using var session = OnnxSession.FromBytes(OnnxModelWriter.Identity(type, "batch", 3).ToBytes());
        Assert.Equal(type, session.Inputs[0].ElementType);
        Assert.Equal(type, session.Outputs[0].ElementType);

        switch (type)
        {
            case OnnxElementType.Float: RoundTrip(session, [1.5f, -2.25f, 0f, float.MaxValue, float.Epsilon, -0f]); break;
            case OnnxElementType.Double: RoundTrip(session, [1.5, -2.25, 0, double.MaxValue, Math.PI, -1e-300]); break;
            case OnnxElementType.Float16: RoundTrip<Half>(session, [(Half)1.5, (Half)(-2), Half.MaxValue, Half.Epsilon, (Half)0.1, (Half)65000]); break;
            case OnnxElementType.BFloat16: RoundTrip<BFloat16>(session, [(BFloat16)1.5f, (BFloat16)(-2f), (BFloat16)3e38f, (BFloat16)1e-30f, (BFloat16)0.1f, (BFloat16)7f]); break;
            case OnnxElementType.Int8: RoundTrip<sbyte>(session, [sbyte.MinValue, -1, 0, 1, 42, sbyte.MaxValue]); break;
            case OnnxElementType.Int16: RoundTrip<short>(session, [short.MinValue, -1, 0, 1, 4242, short.MaxValue]); break;
            case OnnxElementType.Int32: RoundTrip(session, [int.MinValue, -1, 0, 1, 424242, int.MaxValue]); break;
            case OnnxElementType.Int64: RoundTrip(session, [long.MinValue, -1, 0, 1, 42424242424242, long.MaxValue]); break;
            case OnnxElementType.UInt8: RoundTrip<byte>(session, [0, 1, 2, 127, 128, 255]); break;
            case OnnxElementType.UInt16: RoundTrip<ushort>(session, [0, 1, 2, 32768, 40000, ushort.MaxValue]); break;
            case OnnxElementType.UInt32: RoundTrip<uint>(session, [0u, 1, 2, 1u << 31, 4000000000, uint.MaxValue]); break;
            case OnnxElementType.UInt64: RoundTrip<ulong>(session, [0ul, 1, 2, 1ul << 63, 18000000000000000000, ulong.MaxValue]); break;
            case OnnxElementType.Bool: RoundTrip(session, [true, false, true, true, false, false]); break;
            case OnnxElementType.String: RoundTripStrings(session); break;
            default: throw new InvalidOperationException(type.ToString());
        }
    }

    [Fact]
    public void RawBytesOfFloat16CanBeFedWithoutATypedArray()
    {
        // The binary protocol hands over little-endian bytes; FP16 1.0 is 0x3C00.
        using var session = OnnxSession.FromBytes(OnnxModelWriter.Identity(OnnxElementType.Float16, 2).ToBytes());
        var bytes = new byte[] { 0x00, 0x3C, 0x00, 0xC0 };
        using var input = OnnxTensor.CreateFromBytes(OnnxElementType.Float16, bytes, [2]);
        using var outputs = session.Run([new("input", input)]);

        Assert.Equal(bytes, outputs[0].GetBytes().ToArray());
        Assert.Equal([(Half)1, (Half)(-2)], outputs[0].ToArray<Half>());
    }

    private static void RoundTrip<T>(OnnxSession session, T[] values)
        where T : unmanaged
    {
        using var input = OnnxTensor.Create(values, 2, 3);
        using var outputs = session.Run([new("input", input)]);

        var output = Assert.Single(outputs);
        Assert.Equal(OnnxTensor.ElementTypeOf<T>(), output.ElementType);
        Assert.Equal([2L, 3], output.Shape);
        Assert.Equal(values, output.ToArray<T>());
    }

    private static void RoundTripStrings(OnnxSession session)
    {
        string[] values = ["hello", "", "ünïcødé ✓", "with space", new string('x', 1000), "last"];
        using var input = OnnxTensor.CreateStrings(values, [2, 3]);
        using var outputs = session.Run([new("input", input)]);

        Assert.Equal(OnnxElementType.String, outputs[0].ElementType);
        Assert.Equal("BYTES", outputs[0].KServeDatatype);
        Assert.Equal(values, outputs[0].GetStrings());
    }
}
