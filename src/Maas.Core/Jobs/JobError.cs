namespace Maas.Core.Jobs;

/// <summary>Why a job failed: a stable code and a message.</summary>
public sealed record JobError(string Code, string Message);
