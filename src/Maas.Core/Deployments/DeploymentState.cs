using System.Text.Json.Serialization;

namespace Maas.Core.Deployments;

/// <summary>Where a deployment stands: taking its split, halted, or ended by a promotion, an abort or a rollback.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DeploymentState>))]
public enum DeploymentState
{
    /// <summary>Traffic follows the split; a rollout plan advances.</summary>
    [JsonStringEnumMemberName("active")]
    Active,

    /// <summary>Traffic keeps its split; the rollout plan waits for a resume.</summary>
    [JsonStringEnumMemberName("paused")]
    Paused,

    /// <summary>A failed analysis check sent every request back to the stable version.</summary>
    [JsonStringEnumMemberName("rolled-back")]
    RolledBack,

    /// <summary>Stopped by a caller: every request goes to the stable version.</summary>
    [JsonStringEnumMemberName("aborted")]
    Aborted,

    /// <summary>The canary took all traffic and is the stable version now.</summary>
    [JsonStringEnumMemberName("promoted")]
    Promoted,
}
