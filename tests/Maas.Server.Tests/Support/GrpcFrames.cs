using System.Buffers.Binary;
using System.Net;
using System.Threading.Channels;

namespace Maas.Server.Tests.Support;

/// <summary>gRPC's length-prefixed messages on a raw HTTP/2 stream, for tests that hold a stream open message by message.</summary>
internal static class GrpcFrames
{
    /// <summary>One message as gRPC frames it: not compressed, its length big-endian, then its bytes.</summary>
    public static byte[] Frame(byte[] message)
    {
        var frame = new byte[5 + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
        message.CopyTo(frame, 5);
        return frame;
    }

    /// <summary>The next message's bytes.</summary>
    public static async Task<byte[]> ReadFrameAsync(Stream stream)
    {
        var prefix = new byte[5];
        await stream.ReadExactlyAsync(prefix);
        var message = new byte[BinaryPrimitives.ReadUInt32BigEndian(prefix.AsSpan(1))];
        await stream.ReadExactlyAsync(message);
        return message;
    }
}

/// <summary>A request body the test writes piece by piece, kept open until the channel completes.</summary>
internal sealed class ChannelContent(ChannelReader<byte[]> pieces) : HttpContent
{
    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        await foreach (var piece in pieces.ReadAllAsync())
        {
            await stream.WriteAsync(piece);
            await stream.FlushAsync();
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}
