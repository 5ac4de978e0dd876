using Maas.Core.Hosting;
using Maas.Core.Registry;

namespace Maas.Server.ModelHosting;

/// <summary>Tells the registry a version is in use while requests hold it on any engine (deleting it then needs force).</summary>
/// <remarks>An idle loaded version does not count: it unloads on its own when its version is deleted.</remarks>
internal sealed class HostedVersionUseCheck(ModelHost host) : IVersionUseCheck
{
    public ValueTask<string?> GetUseAsync(ModelVersion version, CancellationToken cancellationToken)
    {
        var key = new ModelKey(version.Model, version.Version);
        var active = host.InFlight(key);
        return ValueTask.FromResult(active > 0 ? $"{active} request(s) are queued or running on it ({host.Status(key)?.Engine})" : null);
    }
}
