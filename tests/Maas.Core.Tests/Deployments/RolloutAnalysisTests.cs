using Maas.Core.Deployments;
using Maas.Core.Registry;
using Maas.Core.TensorServing;

namespace Maas.Core.Tests.Deployments;

/// <summary>The rollout judge and the deployment rules, on their own: thresholds, dwell time, splits, plans.</summary>
public sealed class RolloutAnalysisTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    private static Deployment Rollout(RolloutPlan plan, int step = 0) => new()
    {
        Tenant = "default",
        Name = "faces",
        Model = "faces",
        Traffic = DeploymentRules.StepTraffic(1, 2, plan.Steps[step]),
        Plan = plan,
        Stable = 1,
        Canary = 2,
        Step = step,
        StepStartedAt = Start,
        CreatedBy = "tests",
    };

    [Fact]
    public void A_failing_check_rolls_back_before_the_dwell_ends_but_only_on_enough_requests()
    {
        var d = Rollout(new RolloutPlan { Steps = [10, 100], DwellSeconds = 3600, MinRequests = 10, MaxErrorRate = 0.1, MaxP99Ms = 50 });
        Assert.Equal(RolloutDecision.Hold, RolloutAnalysis.Judge(d, new VersionWindow { Version = 2, Requests = 9, Errors = 9 }, Start.AddSeconds(1)).Decision);

        var (decision, reason) = RolloutAnalysis.Judge(d, new VersionWindow { Version = 2, Requests = 10, Errors = 2 }, Start.AddSeconds(1));
        Assert.Equal(RolloutDecision.Rollback, decision);
        Assert.Contains("error rate 0.2 > max_error_rate 0.1 (2 of 10 requests failed)", reason);
        Assert.Contains("back to version 1", reason);

        (decision, reason) = RolloutAnalysis.Judge(d, new VersionWindow { Version = 2, Requests = 10, P99Ms = 80 }, Start.AddSeconds(1));
        Assert.Equal(RolloutDecision.Rollback, decision);
        Assert.Contains("p99 latency 80 ms > max_p99_ms 50", reason);

        // Healthy, but the hour is not over.
        Assert.Equal(RolloutDecision.Hold, RolloutAnalysis.Judge(d, new VersionWindow { Version = 2, Requests = 1000, P99Ms = 5 }, Start.AddMinutes(59)).Decision);
        Assert.Equal(RolloutDecision.Advance, RolloutAnalysis.Judge(d, new VersionWindow { Version = 2, Requests = 1000, P99Ms = 5 }, Start.AddHours(1)).Decision);
        Assert.Equal(RolloutDecision.Promote, RolloutAnalysis.Judge(d with { Step = 1 }, new VersionWindow { Version = 2, Requests = 1000 }, Start.AddHours(1)).Decision);

        // Paused or ended deployments are never judged.
        Assert.Equal(RolloutDecision.Hold,
            RolloutAnalysis.Judge(d with { State = DeploymentState.Paused }, new VersionWindow { Version = 2, Requests = 10, Errors = 10 }, Start.AddHours(2)).Decision);
    }

    [Fact]
    public void Output_checks_need_their_own_comparisons_to_pass_or_fail()
    {
        var d = Rollout(new RolloutPlan { Steps = [50, 100], DwellSeconds = 0, MinRequests = 5, MaxAbsError = 1e-3, MinExactMatch = 0.9 });
        // Enough requests, no comparisons yet: an output check cannot pass on nothing.
        Assert.Equal(RolloutDecision.Hold, RolloutAnalysis.Judge(d, new VersionWindow { Version = 2, Requests = 50 }, Start).Decision);
        var (decision, reason) = RolloutAnalysis.Judge(d, new VersionWindow { Version = 2, Requests = 50, Comparisons = 5, ExactMatches = 5, MaxAbsError = 0.5 }, Start);
        Assert.Equal(RolloutDecision.Rollback, decision);
        Assert.Contains("max_abs_error", reason);
        (decision, reason) = RolloutAnalysis.Judge(d, new VersionWindow { Version = 2, Requests = 50, Comparisons = 10, ExactMatches = 8 }, Start);
        Assert.Equal(RolloutDecision.Rollback, decision);
        Assert.Contains("exact-match rate 0.8 < min_exact_match 0.9", reason);
        Assert.Equal(RolloutDecision.Advance, RolloutAnalysis.Judge(d, new VersionWindow { Version = 2, Requests = 50, Comparisons = 10, ExactMatches = 10 }, Start).Decision);
    }

    [Fact]
    public void Splits_and_plans_are_checked_with_clear_reasons()
    {
        DeploymentRules.CheckTraffic([new TrafficShare(1, 90), new TrafficShare(2, 10)]);
        Assert.Equal("invalid_traffic", Assert.Throws<RegistryException>(() => DeploymentRules.CheckTraffic([new TrafficShare(1, 90)])).Code);
        Assert.Equal("invalid_traffic", Assert.Throws<RegistryException>(() => DeploymentRules.CheckTraffic([new TrafficShare(1, 101), new TrafficShare(2, -1)])).Code);
        Assert.Equal("invalid_traffic", Assert.Throws<RegistryException>(() => DeploymentRules.CheckTraffic([])).Code);
        Assert.Equal("invalid_sticky", Assert.Throws<RegistryException>(() => DeploymentRules.CheckSticky(new StickyRouting { Header = "X-User", Key = true })).Code);
        Assert.Equal("invalid_sticky", Assert.Throws<RegistryException>(() => DeploymentRules.CheckSticky(new StickyRouting { Header = "bad header" })).Code);

        IReadOnlyList<TrafficShare> split = [new TrafficShare(3, 90), new TrafficShare(4, 10)];
        Assert.Equal(4, DeploymentRules.CheckPlan(new RolloutPlan { Steps = [10, 50, 100] }, split));
        Assert.Equal(3, DeploymentRules.StableOf(split, 4));
        Assert.Equal("invalid_plan", Assert.Throws<RegistryException>(() => DeploymentRules.CheckPlan(new RolloutPlan { Steps = [50, 10, 100] }, split)).Code);
        Assert.Equal("invalid_plan", Assert.Throws<RegistryException>(() => DeploymentRules.CheckPlan(new RolloutPlan { Steps = [10, 50] }, split)).Code);
        Assert.Equal("invalid_plan", Assert.Throws<RegistryException>(() => DeploymentRules.CheckPlan(new RolloutPlan { Steps = [100], Canary = 7 }, split)).Code);
        Assert.Equal("invalid_plan", Assert.Throws<RegistryException>(() => DeploymentRules.CheckPlan(new RolloutPlan { Steps = [100], MaxErrorRate = 2 }, split)).Code);
        Assert.Equal([new TrafficShare(3, 50), new TrafficShare(4, 50)], DeploymentRules.StepTraffic(3, 4, 50));
        Assert.Equal([new TrafficShare(4, 100)], DeploymentRules.StepTraffic(3, 4, 100));
    }

    [Fact]
    public void Output_differences_are_measured_per_element()
    {
        using var a = Tensor.FromValues<float>("output", TensorDataType.FP32, [1, 3], [1f, 2f, 4f]);
        using var b = Tensor.FromValues<float>("output", TensorDataType.FP32, [1, 3], [1f, 2.5f, 4f]);
        using var other = Tensor.FromValues<float>("output", TensorDataType.FP32, [3], [1f, 2f, 4f]);
        var same = OutputDifference.Of([a], [a]);
        Assert.Equal(new OutputDifference(0, 0, true), same);
        var diff = OutputDifference.Of([b], [a]);
        Assert.Equal(0.5, diff.MaxAbsError, 6);
        Assert.Equal(0.25, diff.MaxRelError, 6);
        Assert.False(diff.ExactMatch);
        Assert.True(double.IsPositiveInfinity(OutputDifference.Of([other], [a]).MaxAbsError));
        Assert.True(OutputDifference.OfText("hello", "hello").ExactMatch);
        Assert.False(OutputDifference.OfText("hello", "hullo").ExactMatch);
        // Several choices: all identical, in order and number.
        Assert.True(OutputDifference.OfTexts(["a", "b"], ["a", "b"]).ExactMatch);
        Assert.False(OutputDifference.OfTexts(["a", "b"], ["a", "c"]).ExactMatch);
        Assert.False(OutputDifference.OfTexts(["a"], ["a", "b"]).ExactMatch);
    }
}
