using System.Security.Cryptography;

namespace Maas.Core.Jobs.Queue;

/// <summary>Settings of a worker: its name, its lease and how often it looks for work.</summary>
public sealed record JobWorkerOptions
{
    /// <summary>The worker's unique name (host, process and a random part by default).</summary>
    public string Name { get; init; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";

    /// <summary>How long a claim lasts without a heartbeat; a dead worker's job is taken over after this.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often an idle worker looks for queued jobs.</summary>
    public TimeSpan Poll { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How many times a job is claimed before it is failed (its workers keep dying).</summary>
    public int MaxAttempts { get; init; } = 3;
}
