using System.ComponentModel.DataAnnotations;
using Maas.Core.Hosting;

namespace Maas.Server.ModelHosting;

/// <summary>How the model host keeps models loaded (<c>Maas:Hosting</c>), for every engine.</summary>
public sealed class ModelHostingOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Maas:Hosting";

    /// <summary>How often idle models are looked for, in milliseconds (their keep-alive is checked then).</summary>
    [Range(10, 3_600_000, ErrorMessage = "Maas:Hosting:IdleSweepMs must be between 10 and 3600000")]
    public int IdleSweepMs { get; set; } = 1000;

    /// <summary>How long a failed load is reported before a request may try loading again, in milliseconds.</summary>
    [Range(0, 86_400_000, ErrorMessage = "Maas:Hosting:RetryFailedLoadMs must be between 0 and 86400000")]
    public int RetryFailedLoadMs { get; set; } = 10_000;

    /// <summary>How long a request waits for its model to load before it is refused with 503, in milliseconds.</summary>
    [Range(1, 86_400_000, ErrorMessage = "Maas:Hosting:LoadWaitMs must be between 1 and 86400000")]
    public int LoadWaitMs { get; set; } = 300_000;

    /// <summary>How long a load that does not fit waits for a busy model to finish so it can be evicted, in milliseconds; 0 refuses at once.</summary>
    [Range(0, 86_400_000, ErrorMessage = "Maas:Hosting:RoomWaitMs must be between 0 and 86400000")]
    public int RoomWaitMs { get; set; } = 30_000;

    /// <summary>Bytes all loaded models may take together; 0 takes <see cref="MemoryBudgetPercent"/> of the machine's memory.</summary>
    [Range(0, long.MaxValue, ErrorMessage = "Maas:Hosting:MemoryBudgetBytes must be 0 (a share of the machine) or more")]
    public long MemoryBudgetBytes { get; set; }

    /// <summary>The budget as a share of the machine's (or container's) memory when <see cref="MemoryBudgetBytes"/> is 0; 100 = all of it.</summary>
    [Range(1, 100, ErrorMessage = "Maas:Hosting:MemoryBudgetPercent must be between 1 and 100")]
    public int MemoryBudgetPercent { get; set; } = 75;

    /// <summary>Make room for a version's measured load peak before it loads again (false: only for what it keeps once loaded).</summary>
    public bool ReserveLoadPeak { get; set; } = true;

    /// <summary>How long a reading of the model files' resident pages (/proc/self/smaps) serves metrics and loaded-models, in milliseconds; 0 reads on every call.</summary>
    [Range(0, 3_600_000, ErrorMessage = "Maas:Hosting:MappedMemoryRefreshMs must be between 0 and 3600000")]
    public int MappedMemoryRefreshMs { get; set; } = 30_000;

    /// <summary>
    /// How often the versions the host knows are checked against the registry, in milliseconds, so one deleted through
    /// another server sharing the database is unloaded and forgotten here too; 0: never (only deletions made here apply).
    /// </summary>
    [Range(0, 3_600_000, ErrorMessage = "Maas:Hosting:DeletedModelCheckMs must be between 0 (never) and 3600000")]
    public int DeletedModelCheckMs { get; set; } = 10_000;

    /// <summary>The budget in bytes these settings give on this machine.</summary>
    public long EffectiveBudgetBytes => MemoryBudgetBytes > 0 ? MemoryBudgetBytes : ProcessMemory.MachineBytes() / 100 * MemoryBudgetPercent;

    /// <summary>The host's settings.</summary>
    public ModelHostOptions ToHostOptions() => new()
    {
        IdleSweepInterval = TimeSpan.FromMilliseconds(IdleSweepMs),
        RetryFailedLoadAfter = TimeSpan.FromMilliseconds(RetryFailedLoadMs),
        LoadWaitLimit = TimeSpan.FromMilliseconds(LoadWaitMs),
        RoomWaitLimit = TimeSpan.FromMilliseconds(RoomWaitMs),
        MemoryBudgetBytes = EffectiveBudgetBytes,
        ReserveLoadPeak = ReserveLoadPeak,
        MappedMemoryRefreshInterval = TimeSpan.FromMilliseconds(MappedMemoryRefreshMs),
    };
}
