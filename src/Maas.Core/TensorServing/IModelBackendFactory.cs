using Maas.Core.Formats;

namespace Maas.Core.TensorServing;

/// <summary>Loads models of the formats it knows into backends.</summary>
public interface IModelBackendFactory
{
    /// <summary>The engine's name in states, metrics and logs (e.g. <c>onnxruntime</c>).</summary>
    string Engine { get; }

    /// <summary>True when this factory can load <paramref name="format"/>.</summary>
    bool CanLoad(ModelFormat format);

    /// <summary>Loads the model; slow (reads and optimises the model), so call it off the request path.</summary>
    IModelBackend Load(ModelLoadSpec spec, CancellationToken cancellationToken);
}
