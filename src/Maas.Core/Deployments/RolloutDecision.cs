namespace Maas.Core.Deployments;

/// <summary>What the analysis decided for a deployment at one tick.</summary>
public enum RolloutDecision
{
    /// <summary>Nothing to do yet.</summary>
    Hold,

    /// <summary>Move the canary to the next step.</summary>
    Advance,

    /// <summary>The last step passed: the canary becomes the stable version.</summary>
    Promote,

    /// <summary>A check failed: all traffic back to the stable version.</summary>
    Rollback,
}
