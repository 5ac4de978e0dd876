using Maas.Core.Formats;
using Maas.Core.TensorServing;
using Microsoft.Extensions.Logging;

namespace Maas.Runtimes.Onnx.Serving;

/// <summary>Loads ONNX model versions as <see cref="OnnxBackend"/>s.</summary>
/// <param name="logger">Where a GPU provider this build lacks is reported; null reports nowhere.</param>
public sealed class OnnxBackendFactory(ILogger? logger = null) : IModelBackendFactory
{
    /// <inheritdoc />
    public string Engine => "onnxruntime";

    /// <inheritdoc />
    public bool CanLoad(ModelFormat format) => format == ModelFormat.Onnx;

    /// <inheritdoc />
    public IModelBackend Load(ModelLoadSpec spec, CancellationToken cancellationToken) => OnnxBackend.Load(spec, logger);
}
