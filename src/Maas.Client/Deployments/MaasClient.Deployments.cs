using System.Globalization;
using Maas.Client.Deployments;

namespace Maas.Client;

/// <summary>Deployments: split a model's traffic over its versions, then promote, pause, resume or abort the rollout.</summary>
public sealed partial class MaasClient
{
    /// <summary>The deployments the key may see.</summary>
    public Task<DeploymentList> ListDeploymentsAsync(CancellationToken cancellationToken = default) =>
        SendAsync<DeploymentList>(HttpMethod.Get, "api/v1/deployments", null, cancellationToken);

    /// <summary>One deployment with this server's metrics of its current window.</summary>
    public Task<DeploymentInfo> GetDeploymentAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<DeploymentInfo>(HttpMethod.Get, $"api/v1/deployments/{Escape(name)}", null, cancellationToken);

    /// <summary>Creates a deployment (409 <c>deployment_exists</c> when the model has one).</summary>
    public Task<DeploymentInfo> CreateDeploymentAsync(NewDeployment deployment, CancellationToken cancellationToken = default) =>
        SendAsync<DeploymentInfo>(HttpMethod.Post, "api/v1/deployments", deployment, cancellationToken);

    /// <summary>
    /// Changes a deployment's split, shadows, stickiness or plan (fields left null keep their value). With
    /// <paramref name="ifRevision"/> it is compare-and-set (<c>If-Match</c>): a deployment changed since that revision is
    /// left alone and the call fails with 409 <c>deployment_changed</c>.
    /// </summary>
    public async Task<DeploymentInfo> UpdateDeploymentAsync(string name, DeploymentUpdate update, long? ifRevision = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/deployments/{Escape(name)}") { Content = JsonBody(update) };
        if (ifRevision is { } revision)
        {
            request.Headers.IfMatch.Add(new System.Net.Http.Headers.EntityTagHeaderValue($"\"{revision.ToString(CultureInfo.InvariantCulture)}\""));
        }

        using var response = await SendRawAsync(request, cancellationToken);
        return await ReadAsync<DeploymentInfo>(response, cancellationToken);
    }

    /// <summary>Sends all traffic to the canary (or to <paramref name="version"/>), which becomes the stable version.</summary>
    public Task<DeploymentInfo> PromoteDeploymentAsync(string name, int? version = null, CancellationToken cancellationToken = default) =>
        SendAsync<DeploymentInfo>(HttpMethod.Post, $"api/v1/deployments/{Escape(name)}:promote", version is null ? null : new { version }, cancellationToken);

    /// <summary>Holds the rollout; the split stays.</summary>
    public Task<DeploymentInfo> PauseDeploymentAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<DeploymentInfo>(HttpMethod.Post, $"api/v1/deployments/{Escape(name)}:pause", null, cancellationToken);

    /// <summary>Continues a paused rollout; its step's dwell and metrics start afresh.</summary>
    public Task<DeploymentInfo> ResumeDeploymentAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<DeploymentInfo>(HttpMethod.Post, $"api/v1/deployments/{Escape(name)}:resume", null, cancellationToken);

    /// <summary>Sends all traffic back to the stable version.</summary>
    public Task<DeploymentInfo> AbortDeploymentAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<DeploymentInfo>(HttpMethod.Post, $"api/v1/deployments/{Escape(name)}:abort", null, cancellationToken);

    /// <summary>The deployment's changes, newest first (at most <paramref name="limit"/>).</summary>
    public Task<DeploymentHistory> GetDeploymentHistoryAsync(string name, int? limit = null, CancellationToken cancellationToken = default) =>
        SendAsync<DeploymentHistory>(HttpMethod.Get, $"api/v1/deployments/{Escape(name)}/history" + Query(("limit", limit?.ToString(CultureInfo.InvariantCulture))), null,
        cancellationToken);

    /// <summary>Deletes a deployment: calls take the registry's default version again.</summary>
    public Task DeleteDeploymentAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"api/v1/deployments/{Escape(name)}", null, cancellationToken);
}
