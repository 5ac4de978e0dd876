namespace Maas.Core.Registry;

/// <summary>What the start-up recovery removed.</summary>
public sealed record RecoveryReport(int UnfinishedVersions, int ExpiredSessions, int StagedLeftovers, int TemporaryArtifacts, int OrphanArtifacts);
