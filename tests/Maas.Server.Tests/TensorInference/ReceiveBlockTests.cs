using System.Globalization;
using System.Net;
using Maas.Core.Formats.Onnx;
using Maas.Server.TensorInference;

namespace Maas.Server.Tests.TensorInference;

/// <summary>
/// The listener's receive blocks (<c>Maas:Inference:HttpReceiveBlockBytes</c>): a megabyte tensor body arrives whole and
/// in order whatever the block size, Kestrel's own pool (0) included, and the pool hands out and takes back its blocks.
/// </summary>
public sealed class ReceiveBlockTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(4096)]
    [InlineData(64 * 1024)]
    [InlineData(256 * 1024)]
    [InlineData(1024 * 1024)]
    public async Task A_megabyte_binary_tensor_round_trips_with_every_block_size(int blockBytes)
    {
        await using var server = await InferenceHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:Inference:HttpReceiveBlockBytes"] = blockBytes.ToString(CultureInfo.InvariantCulture),
        });
        await server.RegisterAsync("wide", OnnxModelWriter.Identity(OnnxElementType.Float, "batch", 4).ToBytes(), new { max_batch_size = 0 });

        const int Rows = 65_536; // 1 MiB of FP32
        var raw = new byte[Rows * 4 * sizeof(float)];
        for (var i = 0; i < raw.Length / sizeof(float); i++)
        {
            BitConverter.TryWriteBytes(raw.AsSpan(i * sizeof(float)), (float)i);
        }

        var json = $$$"""{"inputs":[{"name":"input","shape":[{{{Rows}}},4],"datatype":"FP32","parameters":{"binary_data_size":{{{raw.Length}}}}}]""" +
            $$$""","parameters":{"binary_data_output":true}}""";
        for (var call = 0; call < 3; call++)
        {
            using var response = await server.Client.PostAsync("/v2/models/wide/infer", InferenceHost.BinaryBody(json, raw));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var (_, binary) = await InferenceHost.ReadBinaryResponseAsync(response);
            Assert.Equal(raw, binary);
        }
    }

    [Fact]
    public void The_pool_reuses_returned_blocks_up_to_its_bound_and_takes_each_back_once()
    {
        using var pool = new ReceiveBlockMemoryPool(blockSize: 8192, maxRetained: 1);
        Assert.Equal(8192, pool.MaxBufferSize);
        var first = pool.Rent(100);
        var second = pool.Rent();
        Assert.Equal(8192, first.Memory.Length);
        first.Memory.Span[0] = 42;
        first.Dispose();
        first.Dispose(); // a second dispose must not put the block in the free list twice
        second.Dispose(); // over the bound of one free block: left to the garbage collector

        var reused = pool.Rent();
        Assert.Equal(42, reused.Memory.Span[0]);
        var fresh = pool.Rent();
        Assert.NotSame(reused, fresh);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(8193));
    }
}
