using System.Globalization;
using Maas.Client.Training;

namespace Maas.Client;

/// <summary>Training jobs: submit, list, show, cancel (events are read through the jobs API).</summary>
public sealed partial class MaasClient
{
    /// <summary>Submits a training job; the server checks it and answers with the queued job.</summary>
    public Task<TrainingJobInfo> SubmitTrainingJobAsync(TrainingRequest request, CancellationToken cancellationToken = default) =>
        SendAsync<TrainingJobInfo>(HttpMethod.Post, "api/v1/training/jobs", request, cancellationToken);

    /// <summary>The newest training jobs.</summary>
    public Task<TrainingJobList> ListTrainingJobsAsync(int? limit = null, CancellationToken cancellationToken = default) =>
        SendAsync<TrainingJobList>(HttpMethod.Get, "api/v1/training/jobs" + Query(("limit", limit?.ToString(CultureInfo.InvariantCulture))), null, cancellationToken);

    /// <summary>One training job (a search's trials too, as <c>{parent}-trialNNN</c>).</summary>
    public Task<TrainingJobInfo> GetTrainingJobAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync<TrainingJobInfo>(HttpMethod.Get, $"api/v1/training/jobs/{Escape(id)}", null, cancellationToken);

    /// <summary>Asks a training job to stop (409 <c>job_finished</c> once it ended).</summary>
    public Task<TrainingJobInfo> CancelTrainingJobAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync<TrainingJobInfo>(HttpMethod.Post, $"api/v1/training/jobs/{Escape(id)}/cancel", null, cancellationToken);
}
