using System.Text.Json;
using Maas.Client.Jobs;

namespace Maas.Client;

/// <summary>Evaluation: a version MaaS trained, scored on a labelled dataset.</summary>
public sealed partial class MaasClient
{
    /// <summary>
    /// Starts an evaluation of <paramref name="name"/> version <paramref name="version"/> on dataset
    /// <paramref name="dataset"/> ("name" or "name:version"); the job's result holds the metrics, rows and dataset.
    /// </summary>
    public Task<JobInfo> EvaluateVersionAsync(string name, int version, string dataset, string? label = null, int? limit = null, CancellationToken cancellationToken = default) =>
        SendAsync<JobInfo>(HttpMethod.Post, $"api/v1/models/{Escape(name)}/versions/{version}/evaluations", new { dataset, label, limit }, cancellationToken);

    /// <summary>The evaluation jobs of a version, newest first, with their results.</summary>
    public async Task<IReadOnlyList<JobInfo>> ListEvaluationsAsync(string name, int version, CancellationToken cancellationToken = default) =>
        (await SendAsync<JsonElement>(HttpMethod.Get, $"api/v1/models/{Escape(name)}/versions/{version}/evaluations", null, cancellationToken))
            .GetProperty("evaluations").Deserialize<JobInfo[]>(MaasJson.Options) ?? [];
}
