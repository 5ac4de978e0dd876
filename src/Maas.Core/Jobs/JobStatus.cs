namespace Maas.Core.Jobs;

/// <summary>Where a background job is in its life.</summary>
public enum JobStatus
{
    /// <summary>Waiting for a free worker.</summary>
    Queued,

    /// <summary>Working.</summary>
    Running,

    /// <summary>Done; <see cref="Job.Result"/> says what it made.</summary>
    Succeeded,

    /// <summary>Stopped by an error; <see cref="Job.Error"/> says which.</summary>
    Failed,

    /// <summary>Stopped by a caller.</summary>
    Cancelled,
}
