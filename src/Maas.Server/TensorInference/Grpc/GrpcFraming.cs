using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Maas.Core.TensorServing;

namespace Maas.Server.TensorInference.Grpc;

/// <summary>The gRPC message framing over HTTP/2: a compressed flag, a 4-byte big-endian length, the message.</summary>
internal static class GrpcFraming
{
    /// <summary>The first buffer of a message; it grows as the bytes arrive.</summary>
    public const int InitialMessageBuffer = 64 * 1024;

    /// <summary>
    /// Reads the next message into a pooled buffer; null at a clean end of stream. Messages over
    /// <paramref name="limit"/> bytes are refused before they are read.
    /// </summary>
    public static async ValueTask<PooledBuffer?> ReadMessageAsync(PipeReader reader, GrpcEncoding encoding, long limit, CancellationToken cancellationToken)
    {
        var result = await reader.ReadAtLeastAsync(5, cancellationToken);
        var buffer = result.Buffer;
        if (buffer.Length == 0 && result.IsCompleted)
        {
            reader.AdvanceTo(buffer.End);
            return null;
        }

        if (buffer.Length < 5)
        {
            reader.AdvanceTo(buffer.Start, buffer.End);
            throw InferenceErrors.Invalid("the request stream ended inside a gRPC message header");
        }

        Span<byte> header = stackalloc byte[5];
        buffer.Slice(0, 5).CopyTo(header);
        var compressed = header[0];
        var length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        // Only what was taken is marked as seen: the message's bytes (and the next message's) may be in this buffer
        // already, and marking them examined would make the next read wait for more bytes than a client that waits
        // for this message's answer will ever send.
        reader.AdvanceTo(buffer.GetPosition(5));
        if (length > limit)
        {
            throw InferenceErrors.Invalid($"the gRPC message is {length} bytes, over the limit of {limit} bytes (Maas:Inference:MaxRequestBodyBytes)");
        }

        // The declared length is only a claim: the buffer starts small and doubles as bytes arrive, so a client that
        // declares 64 MiB and sends nothing costs 64 KiB, not 64 MiB per stream.
        var message = PooledBuffer.Rent(Math.Min(length, InitialMessageBuffer));
        try
        {
            var filled = 0;
            while (filled < length)
            {
                result = await reader.ReadAsync(cancellationToken);
                buffer = result.Buffer;
                var take = (int)Math.Min(buffer.Length, length - filled);
                if (filled + take > message.Length)
                {
                    message = PooledBuffer.Grow(message, Math.Min(length, Math.Max((long)message.Length * 2, filled + take)), filled);
                }

                buffer.Slice(0, take).CopyTo(message.Span[filled..]);
                filled += take;
                reader.AdvanceTo(buffer.GetPosition(take));
                if (filled < length && result.IsCompleted)
                {
                    throw InferenceErrors.Invalid($"the request stream ended after {filled} of the message's {length} bytes");
                }
            }

            if (compressed == 0)
            {
                return message;
            }

            if (encoding == GrpcEncoding.Identity)
            {
                // The spec's answer to a compressed message without a grpc-encoding to read it with.
                throw new InferenceException(InferenceErrorKind.Internal, "a compressed gRPC message arrived without a grpc-encoding header naming its compression");
            }

            using (message)
            {
                return GrpcCompression.Decompress(message, encoding, limit);
            }
        }
        catch
        {
            message.Dispose();
            throw;
        }
    }

    /// <summary>Writes the 5-byte prefix of a message of <paramref name="length"/> bytes (as sent, so compressed when it is).</summary>
    public static void WritePrefix(IBufferWriter<byte> writer, long length, bool compressed = false)
    {
        var span = writer.GetSpan(5);
        span[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(span[1..], checked((uint)length));
        writer.Advance(5);
    }

    /// <summary>Bytes a varint takes.</summary>
    public static int VarintSize(ulong value)
    {
        var size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }

        return size;
    }

    /// <summary>Writes a varint.</summary>
    public static void WriteVarint(IBufferWriter<byte> writer, ulong value)
    {
        var span = writer.GetSpan(10);
        var i = 0;
        while (value >= 0x80)
        {
            span[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[i++] = (byte)value;
        writer.Advance(i);
    }

    /// <summary>
    /// Moves <paramref name="position"/> past the value of a field whose tag (of <paramref name="wireType"/>) was read;
    /// returns a length-delimited value's bytes (an empty range for the others). A value that runs past the end, or a wire
    /// type protobuf does not have, is INVALID_ARGUMENT: "malformed <paramref name="what"/>", with byte <paramref name="at"/>.
    /// </summary>
    public static Range SkipValue(ReadOnlySpan<byte> message, ref int position, int wireType, string what, long at)
    {
        Range payload = default;
        switch (wireType)
        {
            case 0:
                ReadVarint(message, ref position);
                break;
            case 1:
                position += 8;
                break;
            case 5:
                position += 4;
                break;
            case 2:
                var length = ReadVarint(message, ref position);
                if (length > (ulong)(message.Length - position))
                {
                    throw InferenceErrors.Invalid($"malformed {what}: a field runs past the end of the message");
                }

                payload = new Range(position, position + (int)length);
                position += (int)length;
                break;
            default:
                throw InferenceErrors.Invalid($"malformed {what}: wire type {wireType} at byte {at}");
        }

        if (position > message.Length)
        {
            throw InferenceErrors.Invalid($"malformed {what}: a field runs past the end of the message");
        }

        return payload;
    }

    /// <summary>Reads a varint from a protobuf buffer; throws on truncation.</summary>
    public static ulong ReadVarint(ReadOnlySpan<byte> data, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (position >= data.Length)
            {
                throw InferenceErrors.Invalid("malformed protobuf message: a varint runs past the end");
            }

            var b = data[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }

        throw InferenceErrors.Invalid("malformed protobuf message: a varint is longer than 10 bytes");
    }
}
