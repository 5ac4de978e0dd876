using System.Security.Cryptography;
using Maas.Core.Formats.Gguf;
using Maas.Core.Formats.Onnx;

namespace Maas.Server.Tests.Support;

/// <summary>Model files the tests make themselves (valid, and broken in the ways uploads must refuse).</summary>
public static class TestArtifacts
{
    /// <summary>A small ONNX MLP, input "input" FP32 [batch, 4], output "output" FP32 [batch, 3]; <paramref name="seed"/> changes its bytes.</summary>
    public static byte[] Onnx(int seed = 1) => OnnxModelWriter.Mlp(4, [8], 3, seed).Producer("maas-tests", "1").ToBytes();

    /// <summary>
    /// An ONNX model with the same signature as <see cref="Onnx"/> that loads and answers rows of zeros (what a
    /// deployment's warm-up sends) but fails at run time on any input with a value of magnitude 1 or more, however many
    /// rows a batch holds: its Reshape asks for [rows, 4 + s], s the sum of each column's largest magnitude (truncated),
    /// which for such an input holds more elements than the input has, so ONNX Runtime refuses it when it runs.
    /// </summary>
    public static byte[] OnnxFailingOnLiveInputs() =>
        new OnnxModelWriter("fails-on-live-inputs")
            .Input("input", OnnxElementType.Float, "batch", 4)
            .Output("output", OnnxElementType.Float, "batch", 3)
            .Initializer("zero", new long[] { 0 }, [1])
            .Initializer("weight", Enumerable.Range(0, 12).Select(i => (i % 5) * 0.25f).ToArray(), [4, 3])
            .Node("Abs", ["input"], ["magnitude"])
            .Node("ReduceMax", ["magnitude"], ["column_max"], OnnxAttribute.Ints("axes", 0), OnnxAttribute.Int("keepdims", 0))
            .Node("Cast", ["column_max"], ["column_int"], OnnxAttribute.Int("to", 7))
            .Node("ReduceSum", ["column_int"], ["grown_by"], OnnxAttribute.Int("keepdims", 1))
            .Node("Concat", ["zero", "grown_by"], ["growth"], OnnxAttribute.Int("axis", 0))
            .Node("Shape", ["input"], ["input_shape"])
            .Node("Add", ["input_shape", "growth"], ["target_shape"])
            .Node("Reshape", ["input", "target_shape"], ["reshaped"])
            .Node("MatMul", ["reshaped", "weight"], ["output"])
            .Producer("maas-tests", "1")
            .ToBytes();

    /// <summary>Writes an ONNX MLP whose weights live in an external data file; returns both paths.</summary>
    public static (string Model, string Data) OnnxWithExternalData(string folder, int seed = 1)
    {
        var model = Path.Combine(folder, "mlp.onnx");
        OnnxModelWriter.Mlp(4, [16], 3, seed, externalWeights: true).Producer("maas-tests", "1").Save(model, "mlp.weights");
        return (model, Path.Combine(folder, "mlp.weights"));
    }

    /// <summary>A tiny random-weight Llama GGUF (a few hundred KB) that llama.cpp would load.</summary>
    public static byte[] Gguf(ulong seed = 1)
    {
        using var buffer = new MemoryStream();
        GgufLlamaModelFactory.Write(buffer, new GgufLlamaModelOptions
        {
            Name = "maas-test-llama",
            EmbeddingLength = 32,
            BlockCount = 1,
            HeadCount = 2,
            KeyValueHeadCount = 2,
            FeedForwardLength = 64,
            ContextLength = 256,
            VocabularySize = 300,
            Seed = seed,
        });
        return buffer.ToArray();
    }

    /// <summary>The lowercase hex SHA-256 of <paramref name="bytes"/>.</summary>
    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>The lowercase hex SHA-256 of a file.</summary>
    public static string Sha256(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(file));
    }

    /// <summary>The first <paramref name="keep"/> bytes.</summary>
    public static byte[] Truncated(byte[] bytes, int keep) => bytes[..keep];

    /// <summary>A GGUF whose one tensor claims more bytes than the file has (the header is intact).</summary>
    public static byte[] GgufWithTensorPastEnd()
    {
        var whole = GeneratedGgufStream.Header(1 << 16, out _);
        return whole; // Header only: the 256 KiB tensor the header declares is missing.
    }
}

/// <summary>
/// A valid GGUF of any size generated while it is read: a real header (one F32 tensor) followed by zeros. Nothing is
/// held in memory but the header, so a 2 GB upload costs the client nothing. It can pause after a number of bytes
/// (to kill a server mid-upload).
/// </summary>
public sealed class GeneratedGgufStream : Stream
{
    private readonly byte[] _header;
    private readonly long _length;
    private long _position;

    /// <summary>A GGUF with a tensor of <paramref name="tensorBytes"/> (rounded down to 32) bytes.</summary>
    public GeneratedGgufStream(long tensorBytes)
    {
        _header = Header(tensorBytes / 4, out var dataBytes);
        _length = _header.Length + dataBytes;
    }

    /// <summary>When set, every byte read is hashed here (to compare with what the server computed).</summary>
    public System.Security.Cryptography.IncrementalHash? Hash { get; init; }

    /// <summary>Pause reading once this many bytes were read, until <see cref="Resume"/>.</summary>
    public long? PauseAt { get; set; }

    /// <summary>Completes when the stream reached <see cref="PauseAt"/>.</summary>
    public TaskCompletionSource Paused { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private TaskCompletionSource ResumeSignal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Lets a paused stream go on.</summary>
    public void Resume() => ResumeSignal.TrySetResult();

    /// <summary>The header bytes of a GGUF with one F32 tensor of <paramref name="elements"/> elements (rounded to 8).</summary>
    public static byte[] Header(long elements, out long dataBytes)
    {
        elements = Math.Max(8, elements / 8 * 8);
        using var buffer = new MemoryStream();
        using (var writer = new GgufWriter(buffer, leaveOpen: true))
        {
            writer.Add("general.architecture", "llama");
            writer.Add("general.name", "generated-upload-test");
            writer.AddTensor("blob", GgmlType.F32, elements);
            writer.WriteHeader();
        }

        dataBytes = elements * 4;
        return buffer.ToArray();
    }

    /// <inheritdoc />
    public override bool CanRead => true;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override bool CanWrite => false;

    /// <inheritdoc />
    public override long Length => _length;

    /// <inheritdoc />
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc />
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (PauseAt is { } pause && _position >= pause)
        {
            Paused.TrySetResult();
            await ResumeSignal.Task.WaitAsync(cancellationToken);
        }

        var left = _length - _position;
        if (PauseAt is { } limit && _position < limit)
        {
            left = Math.Min(left, limit - _position);
        }

        var count = (int)Math.Min(buffer.Length, left);
        if (count <= 0)
        {
            return 0;
        }

        var span = buffer.Span[..count];
        var fromHeader = 0;
        if (_position < _header.Length)
        {
            fromHeader = (int)Math.Min(count, _header.Length - _position);
            _header.AsSpan((int)_position, fromHeader).CopyTo(span);
        }

        span[fromHeader..].Clear();
        Hash?.AppendData(span);
        _position += count;
        return count;
    }

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override void Flush()
    {
    }

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
