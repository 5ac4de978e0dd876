using System.Globalization;
using Maas.Core.Registry;

namespace Maas.Core.Deployments;

/// <summary>What makes a deployment valid, and how each action changes one (pure: no storage, no clock of its own).</summary>
public static class DeploymentRules
{
    /// <summary>The most versions one split may name.</summary>
    public const int MaxVersions = 16;

    /// <summary>The most steps a rollout plan may have.</summary>
    public const int MaxSteps = 20;

    /// <summary>The longest dwell time of a step: a week.</summary>
    public const double MaxDwellSeconds = 7 * 24 * 3600;

    /// <summary>Checks a split: 1 to 16 distinct positive versions, percents 0..100 summing to 100 (400 otherwise).</summary>
    public static void CheckTraffic(IReadOnlyList<TrafficShare>? traffic)
    {
        if (traffic is null || traffic.Count == 0)
        {
            throw Invalid("invalid_traffic", "traffic must name at least one version: [{\"version\": 1, \"percent\": 100}]");
        }

        if (traffic.Count > MaxVersions)
        {
            throw Invalid("invalid_traffic", $"traffic may name at most {MaxVersions} versions, not {traffic.Count}");
        }

        var seen = new HashSet<int>();
        var sum = 0;
        foreach (var share in traffic)
        {
            if (share is null || share.Version <= 0)
            {
                throw Invalid("invalid_traffic", "every traffic entry needs a version number of 1 or more");
            }

            if (share.Percent is < 0 or > 100)
            {
                throw Invalid("invalid_traffic", $"version {share.Version}'s percent must be 0 to 100, not {share.Percent}");
            }

            if (!seen.Add(share.Version))
            {
                throw Invalid("invalid_traffic", $"version {share.Version} appears twice in traffic");
            }

            sum += share.Percent;
        }

        if (sum != 100)
        {
            throw Invalid("invalid_traffic", $"traffic percents must sum to 100, not {sum}");
        }
    }

    /// <summary>Checks shadow versions: distinct, positive, none of them taking live traffic.</summary>
    public static void CheckShadow(IReadOnlyList<ShadowTarget> shadow, IReadOnlyList<TrafficShare> traffic)
    {
        if (shadow.Count > MaxVersions)
        {
            throw Invalid("invalid_shadow", $"shadow may name at most {MaxVersions} versions, not {shadow.Count}");
        }

        var seen = new HashSet<int>();
        foreach (var s in shadow)
        {
            if (s is null || s.Version <= 0)
            {
                throw Invalid("invalid_shadow", "every shadow entry needs a version number of 1 or more");
            }

            if (!seen.Add(s.Version))
            {
                throw Invalid("invalid_shadow", $"version {s.Version} appears twice in shadow");
            }

            if (traffic.Any(t => t.Version == s.Version && t.Percent > 0))
            {
                throw Invalid("invalid_shadow", $"version {s.Version} takes live traffic, so it cannot also be a shadow");
            }
        }
    }

    /// <summary>Checks sticky routing: exactly one of a header name or the key.</summary>
    public static void CheckSticky(StickyRouting? sticky)
    {
        if (sticky is null)
        {
            return;
        }

        var hasHeader = !string.IsNullOrEmpty(sticky.Header);
        if (hasHeader == sticky.Key)
        {
            throw Invalid("invalid_sticky", "sticky needs exactly one of {\"header\": \"X-User-Id\"} or {\"key\": true} (a change may give {} to turn stickiness off)");
        }

        if (hasHeader && (sticky.Header!.Length > 128 || !sticky.Header.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
        {
            throw Invalid("invalid_sticky", "sticky.header must be a header name of 1 to 128 letters, digits, '-' and '_'");
        }
    }

    /// <summary>The stable version of a split: the largest share (ties: the lowest version), or the one that is not the canary.</summary>
    public static int StableOf(IReadOnlyList<TrafficShare> traffic, int? canary) =>
        traffic.Where(t => t.Version != canary).OrderByDescending(t => t.Percent).ThenBy(t => t.Version).Select(t => t.Version).FirstOrDefault();

    /// <summary>
    /// Checks a plan against its split and returns the canary: two versions in traffic, rising steps ending at 100,
    /// thresholds in range (400 otherwise).
    /// </summary>
    public static int CheckPlan(RolloutPlan plan, IReadOnlyList<TrafficShare> traffic)
    {
        if (traffic.Count != 2)
        {
            throw Invalid("invalid_plan", $"a rollout plan needs traffic over exactly two versions (stable and canary), not {traffic.Count}");
        }

        var canary = plan.Canary ?? traffic.OrderBy(t => t.Percent).ThenByDescending(t => t.Version).First().Version;
        if (traffic.All(t => t.Version != canary))
        {
            throw Invalid("invalid_plan", $"plan.canary {canary} is not one of the traffic's versions");
        }

        if (plan.Steps is null || plan.Steps.Count == 0 || plan.Steps.Count > MaxSteps)
        {
            throw Invalid("invalid_plan", $"plan.steps must list 1 to {MaxSteps} canary percents ending at 100, e.g. [10, 50, 100]");
        }

        for (var i = 0; i < plan.Steps.Count; i++)
        {
            var step = plan.Steps[i];
            if (step is < 1 or > 100 || (i > 0 && step <= plan.Steps[i - 1]))
            {
                throw Invalid("invalid_plan", "plan.steps must rise strictly, each 1 to 100, e.g. [10, 50, 100]");
            }
        }

        if (plan.Steps[^1] != 100)
        {
            throw Invalid("invalid_plan", "plan.steps must end at 100 (the canary takes all traffic)");
        }

        if (double.IsNaN(plan.DwellSeconds) || plan.DwellSeconds is < 0 or > MaxDwellSeconds)
        {
            throw Invalid("invalid_plan", $"plan.dwell_seconds must be 0 to {MaxDwellSeconds.ToString(CultureInfo.InvariantCulture)}");
        }

        if (plan.MinRequests is < 1 or > 1_000_000)
        {
            throw Invalid("invalid_plan", "plan.min_requests must be 1 to 1000000");
        }

        CheckFraction(plan.MaxErrorRate, "max_error_rate");
        CheckFraction(plan.MinExactMatch, "min_exact_match");
        CheckPositive(plan.MaxP99Ms, "max_p99_ms");
        CheckPositive(plan.MaxAbsError, "max_abs_error");
        CheckPositive(plan.MaxRelError, "max_rel_error");
        return canary;
    }

    /// <summary>The split of a plan's step: the canary at the step's percent, the stable version at the rest.</summary>
    public static IReadOnlyList<TrafficShare> StepTraffic(int stable, int canary, int percent) =>
        percent >= 100 ? [new TrafficShare(canary, 100)] : [new TrafficShare(stable, 100 - percent), new TrafficShare(canary, percent)];

    /// <summary>True when the deployment's state lets a caller change its split or act on it.</summary>
    public static void CheckTransition(Deployment deployment, string action)
    {
        var ended = deployment.State is DeploymentState.Aborted or DeploymentState.RolledBack or DeploymentState.Promoted;
        var allowed = action switch
        {
            "pause" => deployment.State == DeploymentState.Active,
            "resume" => deployment.State == DeploymentState.Paused,
            "promote" or "abort" => !ended,
            _ => true,
        };
        if (!allowed)
        {
            throw RegistryException.Conflict(
                "invalid_deployment_state",
                $"deployment '{deployment.Name}' is {StateName(deployment.State)}; it cannot {action} now");
        }
    }

    /// <summary>The state's wire name.</summary>
    public static string StateName(DeploymentState state) => state switch
    {
        DeploymentState.Active => "active",
        DeploymentState.Paused => "paused",
        DeploymentState.RolledBack => "rolled-back",
        DeploymentState.Aborted => "aborted",
        _ => "promoted",
    };

    /// <summary>Every version the deployment needs loaded: those with traffic and the shadows.</summary>
    public static IEnumerable<int> LiveVersions(Deployment deployment) =>
        deployment.Traffic.Where(t => t.Percent > 0).Select(t => t.Version).Concat(deployment.Shadow.Select(s => s.Version)).Distinct();

    private static void CheckFraction(double? value, string name)
    {
        if (value is { } v && (double.IsNaN(v) || v is < 0 or > 1))
        {
            throw Invalid("invalid_plan", $"plan.{name} must be 0 to 1");
        }
    }

    // A JSON number too large for a double (1e400) arrives as infinity: it is out of range, not "not 0 or more".
    private static void CheckPositive(double? value, string name)
    {
        if (value is { } v && (double.IsNaN(v) || double.IsInfinity(v) || v < 0))
        {
            var range = $"0 to {double.MaxValue.ToString("R", CultureInfo.InvariantCulture)}";
            throw Invalid(
                "invalid_plan",
                double.IsPositiveInfinity(v) ? $"plan.{name} is out of range: it must be a number from {range}"
                : double.IsNaN(v) ? $"plan.{name} must be a number from {range}"
                : $"plan.{name} must be a number from {range}, not {(double.IsNegativeInfinity(v) ? "below that" : v.ToString("R", CultureInfo.InvariantCulture))}");
        }
    }

    private static RegistryException Invalid(string code, string message) => RegistryException.Invalid(code, message);
}
