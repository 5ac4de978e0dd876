namespace Maas.Core.Deployments;

/// <summary>A version that receives a copy of live requests; its answers are compared, never returned.</summary>
public sealed record ShadowTarget(int Version);
