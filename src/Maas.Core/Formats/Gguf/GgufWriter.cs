using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Maas.Core.Formats.Gguf;

/// <summary>Writes a GGUF v3 file in one forward pass: metadata and tensor directory first, then tensor data streamed in order.</summary>
/// <remarks>
/// Usage: <see cref="Add(string, GgufValue)"/> metadata, <see cref="AddTensor"/> every tensor, then feed each tensor's data in
/// declaration order with <see cref="WriteTensorData"/> or <see cref="WriteTensorValues"/>, and call <see cref="Finish"/>.
/// Nothing but one write buffer is held in memory, so multi-GB models stream with flat memory.
/// </remarks>
public sealed class GgufWriter : IDisposable
{
    private readonly Stream output;
    private readonly bool leaveOpen;
    private readonly uint alignment;
    private readonly List<KeyValuePair<string, GgufValue>> metadata = [];
    private readonly List<GgufTensorInfo> tensors = [];
    private readonly HashSet<string> tensorNames = new(StringComparer.Ordinal);
    private ulong nextOffset;
    private bool headerWritten;
    private int current;
    private ulong currentWritten;
    private long position;
    private bool finished;

    /// <summary>Writes to <paramref name="output"/> (not seeked; the writer only appends).</summary>
    public GgufWriter(Stream output, uint alignment = GgufReader.DefaultAlignment, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "alignment must be a power of two");
        }

        this.output = new BufferedStream(output, 1 << 20);
        this.leaveOpen = leaveOpen;
        this.alignment = alignment;
        if (alignment != GgufReader.DefaultAlignment)
        {
            Add("general.alignment", GgufValue.From(alignment));
        }
    }

    /// <summary>Creates (or replaces) the file at <paramref name="path"/>.</summary>
    public static GgufWriter Create(string path, uint alignment = GgufReader.DefaultAlignment) =>
        new(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1), alignment);

    /// <summary>The tensors declared so far.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors => tensors;

    /// <summary>The tensor the next data belongs to, or null when all tensor data has been written.</summary>
    public GgufTensorInfo? CurrentTensor => headerWritten && current < tensors.Count ? tensors[current] : null;

    /// <summary>Adds a metadata key/value (keys are unique; order is kept).</summary>
    public GgufWriter Add(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        EnsureDeclaring();
        if (metadata.Any(kv => kv.Key == key))
        {
            throw new ArgumentException($"metadata key '{key}' was already added", nameof(key));
        }

        metadata.Add(new(key, value));
        return this;
    }

    /// <summary>Adds a string value.</summary>
    public GgufWriter Add(string key, string value) => Add(key, GgufValue.From(value));

    /// <summary>Adds a uint32 value (the type llama.cpp expects for most hyper-parameters).</summary>
    public GgufWriter Add(string key, uint value) => Add(key, GgufValue.From(value));

    /// <summary>Adds a float32 value.</summary>
    public GgufWriter Add(string key, float value) => Add(key, GgufValue.From(value));

    /// <summary>Adds a bool value.</summary>
    public GgufWriter Add(string key, bool value) => Add(key, GgufValue.From(value));

    /// <summary>Declares a tensor; its data is written later, in declaration order.</summary>
    /// <param name="dimensions">ggml order: row length first.</param>
    public GgufTensorInfo AddTensor(string name, GgmlType type, params long[] dimensions)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        EnsureDeclaring();
        if (Encoding.UTF8.GetByteCount(name) > GgufReader.MaxTensorNameLength)
        {
            throw new ArgumentException($"tensor name '{name}' is longer than {GgufReader.MaxTensorNameLength} bytes", nameof(name));
        }

        if (dimensions.Length is 0 or > GgufReader.MaxDimensions)
        {
            throw new ArgumentException($"a tensor has 1 to {GgufReader.MaxDimensions} dimensions", nameof(dimensions));
        }

        if (!tensorNames.Add(name))
        {
            throw new ArgumentException($"tensor '{name}' was already added", nameof(name));
        }

        var size = GgmlTypeTraits.ByteSize(type, dimensions)
            ?? throw new ArgumentException($"shape [{string.Join(", ", dimensions)}] cannot be stored as {GgmlTypeTraits.Name(type)}", nameof(dimensions));
        var info = new GgufTensorInfo(name, (long[])dimensions.Clone(), type, nextOffset);
        tensors.Add(info);
        nextOffset += Align(size);
        return info;
    }

    /// <summary>Writes the header (metadata and tensor directory). Called by the first data write if not called before.</summary>
    public void WriteHeader()
    {
        if (headerWritten)
        {
            return;
        }

        headerWritten = true;
        Span<byte> b = stackalloc byte[8];
        WriteUInt32(b, GgufReader.Magic);
        WriteUInt32(b, GgufReader.LatestVersion);
        WriteUInt64(b, (ulong)tensors.Count);
        WriteUInt64(b, (ulong)metadata.Count);
        foreach (var (key, value) in metadata)
        {
            WriteString(key);
            WriteUInt32(b, (uint)value.Type);
            WriteValue(value);
        }

        foreach (var t in tensors)
        {
            WriteString(t.Name);
            WriteUInt32(b, (uint)t.Dimensions.Count);
            foreach (var d in t.Dimensions)
            {
                WriteUInt64(b, (ulong)d);
            }

            WriteUInt32(b, (uint)t.Type);
            WriteUInt64(b, t.Offset);
        }

        if (tensors.Count > 0)
        {
            Pad();
        }

        SkipEmptyTensors();
    }

    /// <summary>Appends raw bytes (already in the tensor's ggml type) to the current tensor; may span several calls.</summary>
    public void WriteTensorData(ReadOnlySpan<byte> data)
    {
        WriteHeader();
        while (!data.IsEmpty)
        {
            var tensor = CurrentTensor ?? throw new InvalidOperationException("all declared tensors are complete; there is no tensor to write data to");
            var left = tensor.ByteSize - currentWritten;
            var take = (int)Math.Min((ulong)data.Length, left);
            Write(data[..take]);
            data = data[take..];
            currentWritten += (ulong)take;
            if (currentWritten == tensor.ByteSize)
            {
                Pad();
                current++;
                currentWritten = 0;
                SkipEmptyTensors();
            }
        }
    }

    /// <summary>Appends float values to the current tensor, encoded as its type (F32, F16, BF16 or Q8_0; Q8_0 takes whole blocks).</summary>
    public void WriteTensorValues(ReadOnlySpan<float> values)
    {
        WriteHeader();
        while (!values.IsEmpty)
        {
            var tensor = CurrentTensor ?? throw new InvalidOperationException("all declared tensors are complete; there is no tensor to write values to");
            var blockSize = GgmlTypeTraits.BlockSize(tensor.Type);
            var leftElements = (long)((tensor.ByteSize - currentWritten) / (ulong)GgmlTypeTraits.BlockBytes(tensor.Type)) * blockSize;
            var take = (int)Math.Min(Math.Min(values.Length, leftElements), 1 << 16);
            if (take % blockSize != 0)
            {
                throw new ArgumentException($"tensor '{tensor.Name}' is {GgmlTypeTraits.Name(tensor.Type)}: write whole blocks of {blockSize} values", nameof(values));
            }

            var bytes = GgmlQuantization.EncodedSize(tensor.Type, take);
            var buffer = ArrayPool<byte>.Shared.Rent(bytes);
            try
            {
                GgmlQuantization.Encode(tensor.Type, values[..take], buffer);
                WriteTensorData(buffer.AsSpan(0, bytes));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            values = values[take..];
        }
    }

    /// <summary>Checks every tensor got all its data and flushes the file.</summary>
    public void Finish()
    {
        WriteHeader();
        if (CurrentTensor is { } missing)
        {
            throw new InvalidOperationException($"tensor '{missing.Name}' got {currentWritten} of {missing.ByteSize} bytes; the file is incomplete");
        }

        output.Flush();
        finished = true;
    }

    /// <summary>True once <see cref="Finish"/> succeeded.</summary>
    public bool IsFinished => finished;

    /// <inheritdoc />
    public void Dispose()
    {
        if (leaveOpen)
        {
            output.Flush();
        }
        else
        {
            output.Dispose();
        }
    }

    private void SkipEmptyTensors()
    {
        while (current < tensors.Count && tensors[current].ByteSize == 0)
        {
            current++;
        }
    }

    private void WriteValue(GgufValue value)
    {
        Span<byte> b = stackalloc byte[8];
        switch (value.Value)
        {
            case Array array:
                WriteUInt32(b, (uint)value.ElementType!.Value);
                WriteUInt64(b, (ulong)array.Length);
                WriteArray(array);
                break;
            default:
                WriteScalar(value.Value, b);
                break;
        }
    }

    private void WriteArray(Array array)
    {
        Span<byte> b = stackalloc byte[8];
        switch (array)
        {
            case byte[] bytes:
                Write(bytes);
                break;
            case string[] strings:
                foreach (var s in strings)
                {
                    WriteString(s);
                }

                break;
            default:
                foreach (var item in array)
                {
                    WriteScalar(item!, b);
                }

                break;
        }
    }

    private void WriteScalar(object value, Span<byte> b)
    {
        switch (value)
        {
            case byte v: b[0] = v; Write(b[..1]); break;
            case sbyte v: b[0] = (byte)v; Write(b[..1]); break;
            case bool v: b[0] = v ? (byte)1 : (byte)0; Write(b[..1]); break;
            case ushort v: BinaryPrimitives.WriteUInt16LittleEndian(b, v); Write(b[..2]); break;
            case short v: BinaryPrimitives.WriteInt16LittleEndian(b, v); Write(b[..2]); break;
            case uint v: WriteUInt32(b, v); break;
            case int v: BinaryPrimitives.WriteInt32LittleEndian(b, v); Write(b[..4]); break;
            case float v: BinaryPrimitives.WriteSingleLittleEndian(b, v); Write(b[..4]); break;
            case ulong v: WriteUInt64(b, v); break;
            case long v: BinaryPrimitives.WriteInt64LittleEndian(b, v); Write(b[..8]); break;
            case double v: BinaryPrimitives.WriteDoubleLittleEndian(b, v); Write(b[..8]); break;
            case string v: WriteString(v); break;
            default: throw new NotSupportedException($"GGUF has no type for {value.GetType().Name}");
        }
    }

    private void WriteString(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        Span<byte> b = stackalloc byte[8];
        WriteUInt64(b, (ulong)bytes.Length);
        Write(bytes);
    }

    private void WriteUInt32(Span<byte> b, uint v)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        Write(b[..4]);
    }

    private void WriteUInt64(Span<byte> b, ulong v)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        Write(b[..8]);
    }

    private void Pad()
    {
        var pad = (long)(Align((ulong)position) - (ulong)position);
        Span<byte> zeros = stackalloc byte[256];
        zeros.Clear();
        while (pad > 0)
        {
            var n = (int)Math.Min(pad, zeros.Length);
            Write(zeros[..n]);
            pad -= n;
        }
    }

    private void Write(ReadOnlySpan<byte> data)
    {
        output.Write(data);
        position += data.Length;
    }

    private ulong Align(ulong value) => (value + alignment - 1) / alignment * alignment;

    private void EnsureDeclaring()
    {
        if (headerWritten)
        {
            throw new InvalidOperationException("the header is already written; add metadata and tensors before any tensor data");
        }
    }
}
