using System.Runtime.CompilerServices;
using Maas.Core.Llm;
using Microsoft.Extensions.Options;

namespace Maas.Server.OpenAi;

/// <summary>
/// The line in front of each loaded engine's embedder (Maas:Llm:EmbeddingQueueLimit, EmbeddingQueueTimeoutMs): one
/// per engine, since each engine has an embedder of its own, and gone with the engine.
/// </summary>
internal sealed class EmbeddingQueues(IOptions<LlmServingOptions> options)
{
    private readonly ConditionalWeakTable<ILlmEngine, EmbeddingQueue> _queues = [];

    /// <summary>The line of <paramref name="engine"/>'s embedder.</summary>
    public EmbeddingQueue For(ILlmEngine engine) =>
        _queues.GetValue(engine, _ => new EmbeddingQueue(options.Value.EmbeddingQueueLimit, TimeSpan.FromMilliseconds(options.Value.EmbeddingQueueTimeoutMs)));
}
