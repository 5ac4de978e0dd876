using Maas.Core.Registry;
using Maas.Core.Serving;

namespace Maas.Server.Inference;

/// <summary>Tells the registry an ONNX version is in use while requests are queued or running on it (deleting it then needs force).</summary>
/// <remarks>An idle loaded version does not count: it unloads on its own when its version is deleted.</remarks>
internal sealed class OnnxVersionUseCheck(ModelManager manager) : IVersionUseCheck
{
    public ValueTask<string?> GetUseAsync(ModelVersion version, CancellationToken cancellationToken)
    {
        var active = manager.ActiveRequests(version.Model, version.Version);
        return ValueTask.FromResult(active > 0 ? $"{active} inference request(s) are queued or running on it" : null);
    }
}
