using System.Globalization;
using Maas.Core.Deployments;

namespace Maas.Server.Deployments;

/// <summary>The version a deployment picked for one request, and the window its metrics count in.</summary>
public sealed record DeploymentRoute(Deployment Deployment, int Version)
{
    /// <summary>The version as the protocols write it.</summary>
    public string VersionText => Version.ToString(CultureInfo.InvariantCulture);

    /// <summary>True when the request went to the rollout's canary.</summary>
    public bool IsCanary => Deployment.Canary == Version && Deployment.Stable != Version;
}
