using System.Diagnostics.Metrics;
using System.Globalization;
using Maas.Core.Deployments;
using Maas.Core.Observability;

namespace Maas.Server.Deployments;

/// <summary>
/// Deployment metrics on the app's "Maas" meter, labelled by <c>model</c> (one deployment per model) and
/// <c>version</c>: routed and shadow requests with their outcome and latency, output comparisons and dropped copies,
/// each version's current traffic share, each deployment's state, and the rollbacks this server decided.
/// </summary>
public sealed class DeploymentMeters
{
    /// <summary>Registers the instruments and follows the router's metrics.</summary>
    public DeploymentMeters(DeploymentRouter router, IMeterFactory meters)
    {
        var meter = meters.Create(MaasTelemetry.Name);
        var requests = meter.CreateCounter<long>("maas.deployment.requests", unit: "{request}",
            description: "Requests a deployment routed to each version (kind live) and copies its shadow versions ran (kind shadow), by status.");
        var duration = meter.CreateHistogram<double>("maas.deployment.request.duration", unit: "s",
            description: "Latency of those requests per version, kind and status: a live call from routing to its answer's end, a shadow copy's own run.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });
        var comparisons = meter.CreateCounter<long>("maas.deployment.comparisons", unit: "{comparison}",
            description: "Answers compared with the reference version's (a shadow's with the live answer, a comparing canary's with the stable version's), by " +
                "result (match, mismatch).");
        var dropped = meter.CreateCounter<long>("maas.deployment.copies.dropped", unit: "{copy}",
            description: "Request copies for shadow or comparison runs dropped because the queue (or the version's engine) was full.");
        var rollbacks = meter.CreateCounter<long>("maas.deployment.rollbacks", unit: "{rollback}",
            description: "Automatic rollbacks this server decided, labelled with the version that lost its traffic.");
        meter.CreateObservableGauge("maas.deployment.traffic.percent", () => Traffic(router.Current), unit: "{percent}",
            description: "Each version's share of its deployment's live traffic now, by role (stable, canary, shadow with 0).");
        meter.CreateObservableGauge("maas.deployment.state", () => States(router.Current), unit: "{deployment}",
            description: "One per deployment, labelled with its state (active, paused, rolled-back, aborted, promoted).");

        var metrics = router.Metrics;
        metrics.RequestRecorded += (model, version, ms, failed, shadow) =>
        {
            var status = new KeyValuePair<string, object?>("status", failed ? "failure" : "success");
            var kind = new KeyValuePair<string, object?>("kind", shadow ? "shadow" : "live");
            requests.Add(1, Model(model), Version(version), kind, status);
            duration.Record(ms / 1000, Model(model), Version(version), kind, status);
        };
        metrics.ComparisonRecorded += (model, version, difference) =>
            comparisons.Add(1, Model(model), Version(version), new("result", difference.ExactMatch ? "match" : "mismatch"));
        metrics.DroppedRecorded += (model, version) => dropped.Add(1, Model(model), Version(version));
        metrics.RollbackRecorded += (model, version) => rollbacks.Add(1, Model(model), Version(version));
    }

    private static KeyValuePair<string, object?> Model(string model) => new("model", model);

    private static KeyValuePair<string, object?> Version(int version) => new("version", version.ToString(CultureInfo.InvariantCulture));

    private static IEnumerable<Measurement<int>> Traffic(IReadOnlyDictionary<string, Deployment> deployments)
    {
        var points = new List<Measurement<int>>();
        foreach (var d in deployments.Values)
        {
            foreach (var share in d.Traffic)
            {
                var role = share.Version == d.Stable ? "stable" : share.Version == d.Canary ? "canary" : "split";
                points.Add(new(share.Percent, Model(d.Model), Version(share.Version), new("role", role)));
            }

            foreach (var shadow in d.Shadow)
            {
                points.Add(new(0, Model(d.Model), Version(shadow.Version), new("role", "shadow")));
            }
        }

        return points;
    }

    private static IEnumerable<Measurement<int>> States(IReadOnlyDictionary<string, Deployment> deployments) =>
        [.. deployments.Values.Select(d => new Measurement<int>(1, Model(d.Model), new("state", DeploymentRules.StateName(d.State))))];
}
