using Maas.Core.Hosting;

namespace Maas.Core.Llm;

/// <summary>A request's hold on a loaded engine; the engine is not unloaded until every lease is disposed.</summary>
public sealed class LlmEngineLease(ModelLease lease, ILlmEngine engine) : IDisposable
{
    /// <summary>The engine.</summary>
    public ILlmEngine Engine { get; } = engine;

    /// <inheritdoc />
    public void Dispose() => lease.Dispose();
}
