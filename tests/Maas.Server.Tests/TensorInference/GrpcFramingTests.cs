using System.Buffers.Binary;
using System.IO.Pipelines;
using Maas.Core.TensorServing;
using Maas.Server.TensorInference.Grpc;

namespace Maas.Server.Tests.TensorInference;

/// <summary>The gRPC message reader sizes its buffer by the bytes that arrived, not by the length the sender declared.</summary>
public sealed class GrpcFramingTests
{
    [Fact]
    public async Task A_declared_length_is_not_allocated_before_its_bytes_arrive()
    {
        const uint declared = 1_500_000_000; // above the array pool's largest bucket: renting it would allocate it
        var pipe = new Pipe();
        var header = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(1), declared);
        await pipe.Writer.WriteAsync(header);
        await pipe.Writer.WriteAsync(new byte[1000]);

        var before = GC.GetTotalAllocatedBytes(precise: true);
        var reading = GrpcFraming.ReadMessageAsync(pipe.Reader, GrpcEncoding.Identity, int.MaxValue, CancellationToken.None);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.False(reading.IsCompleted); // waiting for the rest
        Assert.True(allocated < 64L << 20, $"{allocated} bytes allocated for a message with 1000 of its {declared} bytes in");

        await pipe.Writer.CompleteAsync();
        var ended = await Assert.ThrowsAsync<InferenceException>(async () => await reading);
        Assert.Contains($"ended after 1000 of the message's {declared} bytes", ended.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_message_arriving_in_pieces_is_read_whole_as_its_buffer_grows()
    {
        var payload = new byte[(3 << 20) + 17];
        new Random(5).NextBytes(payload);
        var pipe = new Pipe();
        var header = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(1), (uint)payload.Length);
        await pipe.Writer.WriteAsync(header);
        var reading = GrpcFraming.ReadMessageAsync(pipe.Reader, GrpcEncoding.Identity, int.MaxValue, CancellationToken.None);
        for (var offset = 0; offset < payload.Length; offset += 100_000)
        {
            await pipe.Writer.WriteAsync(payload.AsMemory(offset, Math.Min(100_000, payload.Length - offset)));
        }

        using var message = await reading;
        Assert.NotNull(message);
        Assert.True(message.Span.SequenceEqual(payload));
    }
}
