using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;

namespace Maas.Server.TensorInference;

/// <summary>
/// Gives the HTTP listener's socket transport blocks of <see cref="InferenceOptions.HttpReceiveBlockBytes"/> instead of
/// Kestrel's 4 KiB: a socket receive fills at most one block, and each receive wakes the request's reader on the thread
/// pool, so a 900 KB tensor body took about 225 receives and as many hand-offs; with 64 KiB blocks it takes about 14.
/// </summary>
internal sealed class ReceiveBlockMemoryPoolFactory(IOptions<InferenceOptions> options) : IMemoryPoolFactory<byte>
{
    public MemoryPool<byte> Create(MemoryPoolOptions? poolOptions = null) =>
        new ReceiveBlockMemoryPool(options.Value.HttpReceiveBlockBytes, options.Value.HttpReceiveBlocksRetained);
}
