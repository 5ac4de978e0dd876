using Maas.Core.Formats.Onnx.Proto;

namespace Maas.Core.Formats.Onnx;

/// <summary>
/// The top-level fields of a model (IR version, producer, domain, opsets), read without parsing the graph: the scan
/// skips the graph field by its length, so even a large model with inline weights costs a few reads.
/// </summary>
public sealed record OnnxModelHeader(
    long IrVersion,
    string ProducerName,
    string ProducerVersion,
    string Domain,
    long ModelVersion,
    IReadOnlyList<OnnxOpset> Opsets)
{
    /// <summary>A header with nothing in it.</summary>
    public static OnnxModelHeader Empty { get; } = new(0, "", "", "", 0, []);

    /// <summary>Scans the model file at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidModelFileException">The top level of the file is not valid protobuf.</exception>
    public static OnnxModelHeader Read(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 4096);
        return Read(file);
    }

    /// <summary>Scans model bytes (without copying them).</summary>
    /// <exception cref="InvalidModelFileException">The top level is not valid protobuf.</exception>
    public static OnnxModelHeader Read(ReadOnlySpan<byte> model)
    {
        var cursor = new SpanCursor(model);
        return Scan(ref cursor);
    }

    /// <summary>Scans a seekable stream positioned at the start of a model.</summary>
    /// <exception cref="InvalidModelFileException">The top level is not valid protobuf.</exception>
    public static OnnxModelHeader Read(Stream stream)
    {
        var cursor = new StreamCursor(stream);
        return Scan(ref cursor);
    }

    private static OnnxModelHeader Scan<TCursor>(ref TCursor cursor)
        where TCursor : ICursor, allows ref struct
    {
        long irVersion = 0, modelVersion = 0;
        string producer = "", producerVersion = "", domain = "";
        var opsets = new List<OnnxOpset>();
        while (!cursor.AtEnd)
        {
            var tag = ReadVarint(ref cursor);
            var field = (int)(tag >> 3);
            switch ((int)(tag & 7))
            {
                case 0:
                    var number = (long)ReadVarint(ref cursor);
                    if (field == 1)
                    {
                        irVersion = number;
                    }
                    else if (field == 5)
                    {
                        modelVersion = number;
                    }

                    break;
                case 1:
                    cursor.Skip(8);
                    break;
                case 5:
                    cursor.Skip(4);
                    break;
                case 2:
                    var length = (long)ReadVarint(ref cursor);
                    if (field is 2 or 3 or 4 or 8 && length < (1 << 20))
                    {
                        var bytes = cursor.Read((int)length);
                        switch (field)
                        {
                            case 2: producer = System.Text.Encoding.UTF8.GetString(bytes); break;
                            case 3: producerVersion = System.Text.Encoding.UTF8.GetString(bytes); break;
                            case 4: domain = System.Text.Encoding.UTF8.GetString(bytes); break;
                            default:
                                var opset = OperatorSetIdProto.Parser.ParseFrom(bytes);
                                opsets.Add(new OnnxOpset(opset.Domain, opset.Version));
                                break;
                        }
                    }
                    else
                    {
                        cursor.Skip(length);
                    }

                    break;
                default:
                    throw new InvalidModelFileException($"not an ONNX model: wire type {tag & 7} at byte {cursor.Position} of the top level");
            }
        }

        return new OnnxModelHeader(irVersion, producer, producerVersion, domain, modelVersion, opsets);
    }

    private static ulong ReadVarint<TCursor>(ref TCursor cursor)
        where TCursor : ICursor, allows ref struct
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var b = cursor.ReadByte();
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }

        throw new InvalidModelFileException($"invalid varint at byte {cursor.Position}");
    }

    private static InvalidModelFileException Truncated(long position, long length) =>
        new($"truncated protobuf: a field at byte {position} runs past the end ({length} bytes)");

    private interface ICursor
    {
        bool AtEnd { get; }

        long Position { get; }

        byte ReadByte();

        byte[] Read(int count);

        void Skip(long count);
    }

    private ref struct SpanCursor(ReadOnlySpan<byte> bytes) : ICursor
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private int _position;

        public readonly bool AtEnd => _position >= _bytes.Length;

        public readonly long Position => _position;

        public byte ReadByte() => _position < _bytes.Length ? _bytes[_position++] : throw Truncated(_position, _bytes.Length);

        public byte[] Read(int count)
        {
            var start = _position;
            Skip(count);
            return _bytes.Slice(start, count).ToArray();
        }

        public void Skip(long count)
        {
            if (count < 0 || _position + count > _bytes.Length)
            {
                throw Truncated(_position, _bytes.Length);
            }

            _position += (int)count;
        }
    }

    private readonly struct StreamCursor(Stream stream) : ICursor
    {
        public bool AtEnd => stream.Position >= stream.Length;

        public long Position => stream.Position;

        public byte ReadByte()
        {
            var b = stream.ReadByte();
            return b >= 0 ? (byte)b : throw Truncated(stream.Position, stream.Length);
        }

        public byte[] Read(int count)
        {
            if (stream.Position + count > stream.Length)
            {
                throw Truncated(stream.Position, stream.Length);
            }

            var bytes = new byte[count];
            stream.ReadExactly(bytes);
            return bytes;
        }

        public void Skip(long count)
        {
            if (count < 0 || stream.Position + count > stream.Length)
            {
                throw Truncated(stream.Position, stream.Length);
            }

            stream.Seek(count, SeekOrigin.Current);
        }
    }
}
