using System.Net;
using System.Text.Json.Nodes;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Training;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Training;
using Maas.Testing;
using Maas.Training;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Evaluation;

/// <summary>
/// Cancelling an evaluation while it scores, through DELETE /api/v1/jobs/{id}. The job is held inside the job store at
/// its first batch's progress report (the batch scored, the next not begun) until the cancel is recorded: the cancel
/// lands mid-evaluation on every run, and the job has two more batches it must not score.
/// </summary>
public sealed class EvaluationCancelTests
{
    [Fact]
    public async Task An_evaluation_cancelled_after_its_first_batch_stops_there_ends_cancelled_with_no_result_and_closes_its_session()
    {
        var held = new FirstScoringReportHeld();
        await using var server = await MaasTestServer.StartAsync(
            settings: new Dictionary<string, string?> { ["Maas:Training:PollMilliseconds"] = "100", ["Maas:Training:Threads"] = "1" },
            configure: b => held.Replace(b.Services));
        var client = server.Client;
        var handler = server.Services.GetServices<IJobHandler>().OfType<EvaluationJobHandler>().Single();
        var model = await EvaluationApiTests.TrainAsync(client);

        const int Batch = EvaluationJobHandler.DefaultBatchRows;
        var dataset = await TrainingApiTests.DatasetAsync(client, EvaluationApiTests.Clusters(3 * Batch), "many.csv");
        using var submitted = await client.PostAsync($"api/v1/models/{model}/versions/1/evaluations", Api.Json($$"""{"dataset": "{{dataset}}"}"""));
        var id = (string)(await submitted.JsonAsync(HttpStatusCode.Accepted))["id"]!;

        // Held after its first batch, with the one session it scores with open.
        var (heldId, scored) = await held.Reached.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal((id, Batch), (heldId, scored));
        Assert.Equal((1, 1L), (handler.SessionsOpen, handler.SessionsOpened));

        var cancel = await (await client.DeleteAsync($"api/v1/jobs/{id}")).JsonAsync(HttpStatusCode.Accepted);
        Assert.True((bool)cancel["cancel_requested"]!, cancel.ToJsonString());
        held.Release();

        var ended = await client.WaitForJobAsync(id);
        Assert.True((string?)ended["status"] == "cancelled", ended.ToJsonString());
        Assert.Null(ended["result"]);
        Assert.Equal("cancelled", (string?)ended["error"]!["code"]);

        // It stopped at the next batch: the rows of batches 2 and 3 were never scored, and no metrics were recorded.
        var events = (await (await client.GetAsync($"api/v1/jobs/{id}/events?limit=1000")).JsonAsync(HttpStatusCode.OK))["events"]!.AsArray();
        var scoring = events.Where(e => (string?)e!["type"] == "progress" && (string?)e["data"]!["stage"] == "scoring").Select(e => (int)e!["data"]!["metrics"]!["rows_scored"]!);
        Assert.Equal([Batch], scoring);
        Assert.DoesNotContain(events, e => (string?)e!["type"] == "metrics");

        // The session was disposed with the job, and the version's evaluations show it cancelled, without a result.
        Assert.Equal((0, 1L), (handler.SessionsOpen, handler.SessionsOpened));
        var listed = (await (await client.GetAsync($"api/v1/models/{model}/versions/1/evaluations")).JsonAsync(HttpStatusCode.OK))["evaluations"]!.AsArray();
        var shown = Assert.Single(listed)!;
        Assert.Equal(("cancelled", null), ((string?)shown["status"], shown["result"]));
    }

    // Holds the first evaluation progress report of the "scoring" stage (the worker renews the lease with it before the
    // job goes on) until the test releases it.
    private sealed class FirstScoringReportHeld : ForwardingJobQueueStore
    {
        private readonly TaskCompletionSource<(string Id, int RowsScored)> _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _taken;

        public Task<(string Id, int RowsScored)> Reached => _reached.Task;

        public void Release() => _release.SetResult();

        public void Replace(IServiceCollection services)
        {
            var registered = services.Last(d => d.ServiceType == typeof(IJobQueueStore));
            services.AddSingleton<IJobQueueStore>(sp =>
            {
                Inner = (IJobQueueStore)registered.ImplementationFactory!(sp);
                return this;
            });
        }

        public override async Task<LeaseState> RenewAsync(string id, string worker, DateTimeOffset leaseUntil, JobProgress? progress, DateTimeOffset now,
            CancellationToken cancellationToken)
        {
            if (progress is { Stage: "scoring", Metrics: { } metrics } && (await Inner.GetAsync(id, cancellationToken))?.Kind == EvaluationSpec.Kind
                && Interlocked.Exchange(ref _taken, 1) == 0)
            {
                _reached.SetResult((id, (int)metrics["rows_scored"]));
                await _release.Task.WaitAsync(TimeSpan.FromMinutes(2), CancellationToken.None);
            }

            return await Inner.RenewAsync(id, worker, leaseUntil, progress, now, cancellationToken);
        }
    }
}
