namespace Maas.Core.Instances;

/// <summary>
/// How a process (server or <c>worker</c>) shows other processes on the same database that it is alive
/// ("Maas:Instances" section): the heartbeat it renews, and the lapse after which one that stopped renewing counts as
/// dead and its unfinished work may be cleaned up.
/// </summary>
public sealed class InstanceOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Instances";

    /// <summary>How often a process renews its heartbeat, in milliseconds.</summary>
    public int HeartbeatMs { get; set; } = 10_000;

    /// <summary>How long after its last heartbeat a process counts as dead, in milliseconds (at least twice <see cref="HeartbeatMs"/>).</summary>
    public int LapseMs { get; set; } = 60_000;

    /// <summary>The heartbeat interval.</summary>
    public TimeSpan Heartbeat => TimeSpan.FromMilliseconds(HeartbeatMs);

    /// <summary>The lapse.</summary>
    public TimeSpan Lapse => TimeSpan.FromMilliseconds(LapseMs);

    /// <summary>Every problem of these settings; empty when they are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (HeartbeatMs is < 50 or > 3_600_000)
        {
            errors.Add($"{Section}:HeartbeatMs must be between 50 and 3600000, not {HeartbeatMs}");
        }

        if (LapseMs > 86_400_000)
        {
            errors.Add($"{Section}:LapseMs must be at most 86400000, not {LapseMs}");
        }
        else if ((long)LapseMs < 2L * HeartbeatMs)
        {
            errors.Add($"{Section}:LapseMs must be at least twice {Section}:HeartbeatMs ({HeartbeatMs}), not {LapseMs}");
        }

        return errors;
    }
}
