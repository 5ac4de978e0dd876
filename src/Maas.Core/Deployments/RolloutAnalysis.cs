using System.Globalization;

namespace Maas.Core.Deployments;

/// <summary>Judges a rollout step from the canary's window against the plan's thresholds (pure).</summary>
public static class RolloutAnalysis
{
    /// <summary>
    /// A failing check rolls back as soon as the canary has answered the plan's minimum of requests (comparisons, for
    /// output checks); a step passes once its dwell time is over with every check met on enough requests.
    /// </summary>
    public static (RolloutDecision Decision, string? Reason) Judge(Deployment deployment, VersionWindow canary, DateTimeOffset now)
    {
        if (deployment is not { State: DeploymentState.Active, Plan: { } plan, Canary: { } version })
        {
            return (RolloutDecision.Hold, null);
        }

        var enoughRequests = canary.Requests >= plan.MinRequests;
        if (enoughRequests && plan.MaxErrorRate is { } maxErrors && canary.ErrorRate > maxErrors)
        {
            return Fail(version, $"error rate {F(canary.ErrorRate)} > max_error_rate {F(maxErrors)} ({canary.Errors} of {canary.Requests} requests failed)", deployment);
        }

        if (enoughRequests && plan.MaxP99Ms is { } maxP99 && canary.P99Ms > maxP99)
        {
            return Fail(version, $"p99 latency {F(canary.P99Ms)} ms > max_p99_ms {F(maxP99)} over {canary.Requests} requests", deployment);
        }

        var enoughComparisons = canary.Comparisons >= plan.MinRequests;
        if (enoughComparisons && plan.MaxAbsError is { } maxAbs && canary.MaxAbsError > maxAbs)
        {
            return Fail(version, $"output max abs error {F(canary.MaxAbsError)} > max_abs_error {F(maxAbs)} over {canary.Comparisons} compared answers", deployment);
        }

        if (enoughComparisons && plan.MaxRelError is { } maxRel && canary.MaxRelError > maxRel)
        {
            return Fail(version, $"output max relative error {F(canary.MaxRelError)} > max_rel_error {F(maxRel)} over {canary.Comparisons} compared answers", deployment);
        }

        if (enoughComparisons && plan.MinExactMatch is { } minExact && canary.ExactMatchRate < minExact)
        {
            return Fail(version, $"exact-match rate {F(canary.ExactMatchRate)} < min_exact_match {F(minExact)} over {canary.Comparisons} compared answers", deployment);
        }

        var dwelt = now - deployment.StepStartedAt >= TimeSpan.FromSeconds(plan.DwellSeconds);
        if (!dwelt || !enoughRequests || (plan.ComparesOutputs && !enoughComparisons))
        {
            return (RolloutDecision.Hold, null);
        }

        var summary = $"step {deployment.Step + 1} of {plan.Steps.Count} ({plan.Steps[deployment.Step]}%) passed: {canary.Requests} requests, error rate {F(canary.ErrorRate)}, " +
            $"p99 {F(canary.P99Ms)} ms"
            + (canary.Comparisons > 0 ? $", max abs error {F(canary.MaxAbsError)}" : "");
        return deployment.Step + 1 >= plan.Steps.Count ? (RolloutDecision.Promote, summary) : (RolloutDecision.Advance, summary);
    }

    private static (RolloutDecision, string?) Fail(int version, string why, Deployment deployment) =>
        (RolloutDecision.Rollback, $"version {version} failed step {deployment.Step + 1}: {why}; all traffic back to version {deployment.Stable}");

    private static string F(double value) => value.ToString("0.######", CultureInfo.InvariantCulture);
}
