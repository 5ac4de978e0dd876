using Maas.Core.Deployments;

namespace Maas.Server.Deployments;

/// <summary>What a caller asks for when creating or changing a deployment (fields left null keep their value).</summary>
public sealed record DeploymentSpec(
    IReadOnlyList<TrafficShare>? Traffic,
    IReadOnlyList<ShadowTarget>? Shadow,
    StickyRouting? Sticky,
    RolloutPlan? Plan);
