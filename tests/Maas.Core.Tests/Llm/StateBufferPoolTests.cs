using Maas.Core.Llm;

namespace Maas.Core.Tests.Llm;

public sealed class StateBufferPoolTests
{
    [Theory]
    [InlineData(0, 4096)]
    [InlineData(4096, 4096)]
    [InlineData(4097, 4608)]
    [InlineData(25_039_804, 25_165_824)] // a 382-token state of the benchmark model: 24 MiB, within an eighth of 32 MiB
    [InlineData(33_554_432, 33_554_432)]
    public void Sizes_round_up_to_an_eighth_of_a_power_of_two(long bytes, long size)
    {
        Assert.Equal(size, StateBufferPool.SizeFor(bytes));
        Assert.InRange(StateBufferPool.SizeFor(bytes), bytes, Math.Max(4096, bytes + (bytes / 8)));
    }

    [Fact]
    public void A_buffer_handed_back_is_handed_out_again_for_a_state_about_its_size()
    {
        var pool = new StateBufferPool(maxBuffers: 4, maxBytes: 1 << 30);
        var first = pool.Rent(25_039_804);
        Assert.Equal(1, pool.Allocated);
        pool.Return(first);

        var again = pool.Rent(24_974_256); // a token fewer: the same size step
        Assert.Same(first, again);
        Assert.Equal(1, pool.Reused);
        Assert.Equal(0, pool.Count);
        Assert.Equal(0, pool.Bytes);
    }

    [Fact]
    public void Buffers_made_ahead_are_written_through_handed_out_for_the_next_saves_and_stay_within_the_limits()
    {
        var made = new List<byte[]>();
        var pool = new StateBufferPool(maxBuffers: 3, maxBytes: 3 * StateBufferPool.SizeFor(125_000), bytes =>
        {
            var array = new byte[bytes];
            array.AsSpan().Fill(0xAB); // as new memory may hold anything until written
            made.Add(array);
            return new ArrayBuffer(array);
        });

        Assert.True(pool.Prepare(100_000)); // room for a quarter more, as a buffer made for a save
        Assert.True(pool.Prepare(100_000));
        Assert.Equal(2, pool.Prepared);
        Assert.Equal(2, pool.Count);
        Assert.Equal(2 * StateBufferPool.SizeFor(125_000), pool.Bytes);
        Assert.All(made, array => Assert.DoesNotContain((byte)0xAB, array)); // every page written

        // The next saves of about that size take them, without new memory.
        var first = pool.Rent(100_000);
        var second = pool.Rent(120_000);
        Assert.Equal(2, pool.Reused);
        Assert.Equal(0, pool.Allocated);
        Assert.Contains(made, array => ReferenceEquals(((ArrayBuffer)first).Array, array));
        Assert.Contains(made, array => ReferenceEquals(((ArrayBuffer)second).Array, array));

        // Never more buffers or bytes than the pool keeps.
        Assert.True(pool.Prepare(100_000));
        Assert.True(pool.Prepare(100_000));
        Assert.True(pool.Prepare(100_000));
        Assert.False(pool.Prepare(100_000));
        Assert.Equal(3, pool.Count);
        Assert.False(new StateBufferPool(maxBuffers: 4, maxBytes: StateBufferPool.SizeFor(125_000) - 1).Prepare(100_000));
        Assert.False(new StateBufferPool(maxBuffers: 0, maxBytes: 1 << 30).Prepare(100_000));
    }

    [Fact]
    public void A_buffer_is_not_handed_out_for_a_state_under_half_its_size_nor_over_it()
    {
        var pool = new StateBufferPool(maxBuffers: 4, maxBytes: 1 << 30);
        var large = pool.Rent(25_000_000);
        pool.Return(large);

        Assert.Equal(30 << 20, large.Memory.Length); // a quarter more room, rounded up
        Assert.NotSame(large, pool.Rent(6_500_000)); // a 99-token state would hold a 30 MiB buffer
        Assert.NotSame(large, pool.Rent(34_000_000)); // too small
        Assert.Same(large, pool.Rent(17_000_000));
    }

    [Fact]
    public void The_buffer_a_restored_conversation_hands_back_holds_its_next_turn()
    {
        // The benchmark model's states of one conversation: 480 tokens saved, restored, then 578 tokens saved again.
        var pool = new StateBufferPool(maxBuffers: 4, maxBytes: 1 << 30);
        var turn = pool.Rent(31_463_508);
        pool.Return(turn);

        Assert.Same(turn, pool.Rent(37_887_212));
        Assert.Equal(1, pool.Allocated);
        Assert.Equal(1, pool.Reused);
    }

    [Fact]
    public void The_smallest_buffer_that_fits_is_handed_out()
    {
        var pool = new StateBufferPool(maxBuffers: 4, maxBytes: 1 << 30);
        var big = new ArrayBuffer(new byte[40_000]);
        var small = new ArrayBuffer(new byte[30_000]);
        pool.Return(big);
        pool.Return(small);

        Assert.Same(small, pool.Rent(25_000));
        Assert.Same(big, pool.Rent(25_000));
    }

    [Fact]
    public void Never_holds_more_than_its_buffers_or_bytes_dropping_the_oldest()
    {
        var pool = new StateBufferPool(maxBuffers: 2, maxBytes: 250);
        ArrayBuffer[] buffers = [new(new byte[100]), new(new byte[100]), new(new byte[100]), new(new byte[300])];
        foreach (var buffer in buffers)
        {
            pool.Return(buffer);
            Assert.InRange(pool.Count, 0, 2);
            Assert.InRange(pool.Bytes, 0, 250);
        }

        Assert.Equal(2, pool.Count); // the 300-byte one was never taken, the first went
        Assert.Same(buffers[1], pool.Rent(60));
        Assert.Same(buffers[2], pool.Rent(60));
        Assert.Equal(0, new StateBufferPool(0, 1000).Count);
    }

    [Fact]
    public void New_buffers_come_from_the_allocator_and_those_the_pool_lets_go_are_disposed_of()
    {
        var made = new List<Owner>();
        var pool = new StateBufferPool(maxBuffers: 1, maxBytes: 1 << 20, allocate: n =>
        {
            var owner = new Owner(n);
            made.Add(owner);
            return owner;
        });

        var a = pool.Rent(5000);
        var b = pool.Rent(5000);
        Assert.Equal([6656, 6656], made.Select(m => m.Memory.Length));
        pool.Return(a);
        pool.Return(b); // one spare at most: a goes
        Assert.True(made[0].Disposed);
        Assert.False(made[1].Disposed);
        pool.Dispose();
        Assert.True(made[1].Disposed);
        Assert.Equal(0, pool.Count);
    }

    private sealed class Owner(int bytes) : System.Buffers.IMemoryOwner<byte>
    {
        public bool Disposed { get; private set; }

        public Memory<byte> Memory { get; } = new byte[bytes];

        public void Dispose() => Disposed = true;
    }
}
