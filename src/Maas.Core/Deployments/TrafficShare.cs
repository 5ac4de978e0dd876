namespace Maas.Core.Deployments;

/// <summary>One version's share of a deployment's live traffic, in whole percent.</summary>
public sealed record TrafficShare(int Version, int Percent);
