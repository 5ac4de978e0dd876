using Maas.Core.Formats;

namespace Maas.Core.Hosting;

/// <summary>
/// Where the host's start-up learns which models to load at start and how to reload one whose configuration
/// changed: one per family of protocols (tensor models, LLMs), each resolving through the registry its own way.
/// </summary>
public interface IHostedModelSource
{
    /// <summary>A short name for readiness messages and logs (<c>onnx</c>, <c>llm</c>).</summary>
    string Name { get; }

    /// <summary>Every version configured to load at start (<c>load_at_start</c> or pinned), as load requests.</summary>
    Task<IReadOnlyList<ModelLoadRequest>> LoadAtStartAsync(CancellationToken cancellationToken);

    /// <summary>
    /// A fresh load request for a version this source serves (after its model's configuration changed); null when the
    /// version is not this source's or is gone.
    /// </summary>
    Task<ModelLoadRequest?> RefreshRequestAsync(HostedModelStatus model, CancellationToken cancellationToken);

    /// <summary>
    /// The load request of a version for an operator's explicit load or unload (null when it is not this source's
    /// format or the version is gone). With <paramref name="forLoad"/>, an earlier unload of the whole model that the
    /// source keeps itself is cleared first.
    /// </summary>
    Task<ModelLoadRequest?> OperatorRequestAsync(ModelKey key, ModelFormat format, bool forLoad, CancellationToken cancellationToken);
}
