using System.Runtime.CompilerServices;
using Maas.Core.Llm;

namespace Maas.Server.OpenAi;

/// <summary>
/// The line in front of each loaded engine's embedder (the model's embedding_queue_limit and
/// embedding_queue_timeout_ms, else Maas:Llm:EmbeddingQueueLimit and EmbeddingQueueTimeoutMs): one per engine, since
/// each engine has an embedder of its own, and gone with the engine.
/// </summary>
internal sealed class EmbeddingQueues
{
    private readonly ConditionalWeakTable<ILlmEngine, EmbeddingQueue> _queues = [];

    /// <summary>The line of <paramref name="engine"/>'s embedder, sized by the <paramref name="spec"/> it was loaded with.</summary>
    public EmbeddingQueue For(ILlmEngine engine, LlmModelSpec spec) =>
        _queues.GetValue(engine, _ => new EmbeddingQueue(spec.EmbeddingQueueLimit, TimeSpan.FromMilliseconds(spec.EmbeddingQueueTimeoutMs)));
}
