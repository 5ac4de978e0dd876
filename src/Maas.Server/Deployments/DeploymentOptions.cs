using System.ComponentModel.DataAnnotations;

namespace Maas.Server.Deployments;

/// <summary>Settings of deployments (traffic splits, shadows, rollouts), bound from "Maas:Deployments".</summary>
public sealed class DeploymentOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Deployments";

    /// <summary>How often each server checks the database for deployment changes made by another server, in milliseconds.</summary>
    [Range(10, 60_000, ErrorMessage = "Maas:Deployments:RefreshMs must be between 10 and 60000")]
    public int RefreshMs { get; set; } = 250;

    /// <summary>How often the analysis loop judges every rollout step, in milliseconds.</summary>
    [Range(10, 3_600_000, ErrorMessage = "Maas:Deployments:AnalysisIntervalMs must be between 10 and 3600000")]
    public int AnalysisIntervalMs { get; set; } = 1000;

    /// <summary>Request copies waiting for shadow (and canary comparison) runs; more are dropped and counted (0 turns copies off).</summary>
    [Range(0, 100_000, ErrorMessage = "Maas:Deployments:ShadowQueueLength must be between 0 and 100000")]
    public int ShadowQueueLength { get; set; } = 256;

    /// <summary>Shadow runs at once.</summary>
    [Range(1, 64, ErrorMessage = "Maas:Deployments:ShadowConcurrency must be between 1 and 64")]
    public int ShadowConcurrency { get; set; } = 2;

    /// <summary>Before a version gets traffic, load it and run one request (built from its signature, or a short generation for a language model).</summary>
    public bool WarmUp { get; set; } = true;

    /// <summary>The longest a warm-up (load and sample request) may take before the change is refused, in seconds.</summary>
    [Range(1, 3600, ErrorMessage = "Maas:Deployments:WarmUpTimeoutSeconds must be between 1 and 3600")]
    public int WarmUpTimeoutSeconds { get; set; } = 120;
}
