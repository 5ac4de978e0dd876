using System.Buffers.Binary;
using Maas.Core.Formats;
using Maas.Core.Formats.Gguf;

namespace Maas.Core.Tests.Formats.Gguf;

public sealed class GgufWriterTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("maas-gguf-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void Every_metadata_type_round_trips()
    {
        var values = new Dictionary<string, GgufValue>
        {
            ["u8"] = GgufValue.From((byte)200),
            ["i8"] = GgufValue.From((sbyte)-100),
            ["u16"] = GgufValue.From((ushort)60000),
            ["i16"] = GgufValue.From((short)-30000),
            ["u32"] = GgufValue.From(4_000_000_000u),
            ["i32"] = GgufValue.From(-2_000_000_000),
            ["f32"] = GgufValue.From(3.25f),
            ["bool"] = GgufValue.From(true),
            ["str"] = GgufValue.From("héllo 世界 🎉"),
            ["u64"] = GgufValue.From(ulong.MaxValue),
            ["i64"] = GgufValue.From(long.MinValue),
            ["f64"] = GgufValue.From(Math.PI),
            ["a.u8"] = GgufValue.From(new byte[] { 1, 2, 255 }),
            ["a.i8"] = GgufValue.From(new sbyte[] { -1, 0, 127 }),
            ["a.u16"] = GgufValue.From(new ushort[] { 1, 65535 }),
            ["a.i16"] = GgufValue.From(new short[] { -2, 2 }),
            ["a.u32"] = GgufValue.From(new uint[] { 7, uint.MaxValue }),
            ["a.i32"] = GgufValue.From(new[] { -7, int.MaxValue }),
            ["a.f32"] = GgufValue.From(new[] { 0.5f, -1e-20f, float.PositiveInfinity }),
            ["a.bool"] = GgufValue.From(new[] { true, false, true }),
            ["a.str"] = GgufValue.From(new[] { "", "a b", "ünï", "Ġthe" }),
            ["a.u64"] = GgufValue.From(new ulong[] { 0, ulong.MaxValue }),
            ["a.i64"] = GgufValue.From(new[] { long.MinValue, 5L }),
            ["a.f64"] = GgufValue.From(new[] { 1.0 / 3, -0.0 }),
            ["a.empty"] = GgufValue.From(Array.Empty<int>()),
        };
        var path = Path.Combine(folder, "kv.gguf");
        using (var w = GgufWriter.Create(path))
        {
            foreach (var (k, v) in values)
            {
                w.Add(k, v);
            }

            w.Finish();
        }

        var file = GgufReader.Read(path);

        Assert.Equal(values.Keys, file.MetadataKeys);
        foreach (var (k, v) in values)
        {
            Assert.Equal(v, file.Metadata[k]);
        }

        Assert.Empty(file.Tensors);
        Assert.Equal(new FileInfo(path).Length, file.DataOffset);
    }

    [Fact]
    public void Tensors_round_trip_with_aligned_offsets_and_exact_data()
    {
        var path = Path.Combine(folder, "tensors.gguf");
        var f32 = Enumerable.Range(0, 3 * 5).Select(i => i * 0.5f).ToArray();
        var f16 = Enumerable.Range(0, 7).Select(i => i - 3f).ToArray();
        var q8 = Enumerable.Range(0, 64 * 2).Select(i => MathF.Sin(i)).ToArray();
        using (var w = GgufWriter.Create(path, alignment: 64))
        {
            w.Add("general.architecture", "test");
            w.AddTensor("a", GgmlType.F32, 5, 3);
            w.AddTensor("b", GgmlType.F16, 7);
            w.AddTensor("c", GgmlType.Q8_0, 64, 2);
            w.WriteTensorValues(f32.AsSpan(0, 4));
            w.WriteTensorValues(f32.AsSpan(4));
            w.WriteTensorValues(f16);
            w.WriteTensorValues(q8);
            w.Finish();
        }

        var file = GgufReader.Read(path);
        Assert.Equal(64u, file.Alignment);
        Assert.Equal(64u, file.Get("general.alignment")!.Value);
        Assert.Equal(0, file.DataOffset % 64);
        Assert.Equal(["a", "b", "c"], file.Tensors.Select(t => t.Name));
        Assert.All(file.Tensors, t => Assert.Equal(0ul, t.Offset % 64));
        Assert.Equal([5L, 3L], file.Tensors[0].Dimensions);
        Assert.Equal(GgmlType.Q8_0, file.Tensors[2].Type);
        Assert.Equal(4ul * 34, file.Tensors[2].ByteSize);
        Assert.Equal(15 + 7 + 128, file.ParameterCount);

        var bytes = File.ReadAllBytes(path);
        var a = Slice(bytes, file, 0).ToArray();
        Assert.Equal(f32, Enumerable.Range(0, 15).Select(i => BinaryPrimitives.ReadSingleLittleEndian(a.AsSpan(i * 4))));
        var b = Slice(bytes, file, 1).ToArray();
        Assert.Equal(f16, Enumerable.Range(0, 7).Select(i => (float)BinaryPrimitives.ReadHalfLittleEndian(b.AsSpan(i * 2))));
        var back = new float[128];
        GgmlQuantization.DequantizeQ8_0(Slice(bytes, file, 2), back);
        for (var i = 0; i < q8.Length; i++)
        {
            Assert.True(MathF.Abs(back[i] - q8[i]) < 0.01f, $"element {i}: {back[i]} vs {q8[i]}");
        }
    }

    [Fact]
    public void Quantisation_name_comes_from_the_dominant_matrix_type_when_file_type_is_absent()
    {
        var path = Path.Combine(folder, "q.gguf");
        using (var w = GgufWriter.Create(path))
        {
            w.AddTensor("norm", GgmlType.F32, 64);
            w.AddTensor("big", GgmlType.Q8_0, 64, 64);
            w.AddTensor("small", GgmlType.F16, 64, 2);
            w.WriteTensorData(new byte[(64 * 4) + (64 * 2 * 34) + (64 * 2 * 2)]);
            w.Finish();
        }

        Assert.Equal("Q8_0", GgufReader.Read(path).Quantization);
    }

    [Fact]
    public void Finish_refuses_a_tensor_without_all_its_data()
    {
        using var w = new GgufWriter(new MemoryStream());
        w.AddTensor("t", GgmlType.F32, 4);
        w.WriteTensorValues([1f, 2f]);

        var error = Assert.Throws<InvalidOperationException>(w.Finish);
        Assert.Contains("'t'", error.Message);
    }

    [Fact]
    public void Wrong_magic_is_refused()
    {
        var path = Path.Combine(folder, "magic.gguf");
        File.WriteAllBytes(path, "ONNX\u0003\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"u8.ToArray());

        var error = Assert.Throws<InvalidModelFileException>(() => GgufReader.Read(path));
        Assert.Contains("magic", error.Message);
    }

    [Fact]
    public void Unsupported_version_is_refused()
    {
        var bytes = WriteSmallModel();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 4);

        var error = Assert.Throws<InvalidModelFileException>(() => Read(bytes));
        Assert.Contains("version 4", error.Message);
    }

    [Fact]
    public void A_file_cut_inside_the_header_is_reported_as_truncated()
    {
        var bytes = WriteSmallModel();
        var file = Read(bytes);

        foreach (var cut in new[] { 2, 10, 30, (int)file.DataOffset / 2, (int)file.DataOffset - 40 })
        {
            var error = Assert.Throws<InvalidModelFileException>(() => Read(bytes[..cut]));
            Assert.Matches("truncated|too short|cannot hold|more than the", error.Message);
        }
    }

    [Fact]
    public void A_tensor_past_the_end_of_the_file_is_refused_with_its_name()
    {
        var bytes = WriteSmallModel();

        var error = Assert.Throws<InvalidModelFileException>(() => Read(bytes[..^8]));
        Assert.Contains("'w2'", error.Message);
        Assert.Contains("past the end of the file", error.Message);
    }

    [Fact]
    public void Implausible_counts_do_not_allocate()
    {
        var bytes = WriteSmallModel();
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(16), long.MaxValue / 2); // n_kv

        var error = Assert.Throws<InvalidModelFileException>(() => Read(bytes));
        Assert.Contains("implausible", error.Message);

        // A string length of 2^62 in the first key.
        bytes = WriteSmallModel();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(24), 1UL << 62);
        error = Assert.Throws<InvalidModelFileException>(() => Read(bytes));
        Assert.Contains("string", error.Message);
    }

    [Fact]
    public void An_array_longer_than_the_file_is_refused()
    {
        using var stream = new MemoryStream();
        using (var w = new GgufWriter(stream, leaveOpen: true))
        {
            w.Add("k", GgufValue.From(new float[] { 1, 2 }));
            w.Finish();
        }

        var bytes = stream.ToArray();
        // header 24 + key (8 + 1) + type 4 + element type 4 => count at 41
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(41), 1UL << 40);

        var error = Assert.Throws<InvalidModelFileException>(() => Read(bytes));
        Assert.Contains("'k'", error.Message);
    }

    private static GgufFile Read(byte[] bytes) => GgufReader.Read(new MemoryStream(bytes));

    private static byte[] WriteSmallModel()
    {
        using var stream = new MemoryStream();
        using (var w = new GgufWriter(stream, leaveOpen: true))
        {
            w.Add("general.architecture", "test").Add("test.context_length", 128u);
            w.AddTensor("w1", GgmlType.F32, 8, 2);
            w.AddTensor("w2", GgmlType.F16, 32);
            w.WriteTensorValues(new float[16]);
            w.WriteTensorValues(new float[32]);
            w.Finish();
        }

        return stream.ToArray();
    }

    private static ReadOnlySpan<byte> Slice(byte[] bytes, GgufFile file, int tensor)
    {
        var t = file.Tensors[tensor];
        return bytes.AsSpan((int)(file.DataOffset + (long)t.Offset), (int)t.ByteSize);
    }
}
