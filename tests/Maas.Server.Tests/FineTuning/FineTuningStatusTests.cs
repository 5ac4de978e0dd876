using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Server.FineTuning;

namespace Maas.Server.Tests.FineTuning;

/// <summary>
/// A queued job's state in OpenAI's status names: "validating_files" lasts only while a worker reads the files (too
/// short to catch through the API), so the mapping is checked on the job records the queue keeps.
/// </summary>
public sealed class FineTuningStatusTests
{
    [Theory]
    [InlineData(JobStatus.Queued, null, "queued")]
    [InlineData(JobStatus.Running, FineTuningJobHandler.ValidatingStage, "validating_files")]
    [InlineData(JobStatus.Running, "running", "running")]
    [InlineData(JobStatus.Running, "registering", "running")]
    [InlineData(JobStatus.Succeeded, "registering", "succeeded")]
    [InlineData(JobStatus.Failed, FineTuningJobHandler.ValidatingStage, "failed")]
    [InlineData(JobStatus.Cancelled, "running", "cancelled")]
    public void Each_state_of_a_queued_job_has_openais_status_name(JobStatus status, string? stage, string expected)
    {
        var job = new QueuedJob { Id = "ftjob-1", Kind = FineTuningSpec.Kind, Tenant = "default", Status = status, Progress = new JobProgress { Stage = stage } };
        Assert.Equal(expected, FineTuningViews.Status(job));
    }
}
