using System.Net;
using Maas.Core.Jobs.Queue;
using Maas.Server.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Training;

/// <summary>
/// A training submission refused at the store's insert (the per-tenant job limit, taken by a submission through another
/// server after this one counted) leaves nothing behind: the new model it created for the job goes, while a model that
/// was there before, or that another accepted job names, stays.
/// </summary>
public sealed class RefusedSubmissionModelTests
{
    [Fact]
    public async Task A_submission_refused_at_the_insert_removes_only_the_empty_model_it_created()
    {
        var store = new RefusingStore();
        await using var server = await MaasTestServer.StartAsync(
            settings: new Dictionary<string, string?>
            {
                ["Maas:Training:Workers"] = "0", // an accepted job stays queued
                ["Maas:Training:MaxUnfinishedJobsPerTenant"] = "5", // the early count always finds room
            },
            configure: b => store.Replace(b.Services));
        var client = server.Client;
        var csv = LineCsv.Bytes;
        var dataset = await TrainingApiTests.DatasetAsync(client, csv, "line.csv");
        async Task<HttpResponseMessage> SubmitAsync(string model) =>
            await client.PostAsync("api/v1/training/jobs",
            Api.Json($$"""{"model": "{{model}}", "dataset": "{{dataset}}", "task": "regression", "label": "y", "trainer": "sdca"}"""));

        // Refused after the model was created for it: the model is gone with the refusal.
        store.Refuse = true;
        var created = Names.Unique("m");
        using (var refused = await SubmitAsync(created))
        {
            var error = await refused.ErrorAsync(HttpStatusCode.TooManyRequests, "too_many_jobs");
            Assert.Equal(5, (int)error["limit"]!);
        }

        Assert.Equal(1, store.Refusals);
        await (await client.GetAsync($"api/v1/models/{created}")).ErrorAsync(HttpStatusCode.NotFound, "model_not_found");

        // A model that was there before the submission is never removed, though it has no versions.
        var existing = await client.CreateModelAsync();
        await (await SubmitAsync(existing)).ErrorAsync(HttpStatusCode.TooManyRequests, "too_many_jobs");
        Assert.Equal(2, store.Refusals);
        await (await client.GetAsync($"api/v1/models/{existing}")).JsonAsync(HttpStatusCode.OK);

        // Another server's submission found the new model and was accepted just before this one was refused: its job
        // names the model, which stays for the job to register into.
        var shared = Names.Unique("m");
        store.BeforeRefusal = job => store.AcceptCopyAsync(job);
        await (await SubmitAsync(shared)).ErrorAsync(HttpStatusCode.TooManyRequests, "too_many_jobs");
        Assert.Equal(3, store.Refusals);
        await (await client.GetAsync($"api/v1/models/{shared}")).JsonAsync(HttpStatusCode.OK);

        // Accepted, the submission keeps its model as before.
        store.Refuse = false;
        store.BeforeRefusal = null;
        var kept = Names.Unique("m");
        await (await SubmitAsync(kept)).JsonAsync(HttpStatusCode.Accepted);
        await (await client.GetAsync($"api/v1/models/{kept}")).JsonAsync(HttpStatusCode.OK);
    }

    /// <summary>The server's job store, whose inserts refuse for the job limit while <see cref="Refuse"/> is set.</summary>
    private sealed class RefusingStore : ForwardingJobQueueStore
    {
        private int _refusals;

        public volatile bool Refuse;

        public Func<QueuedJob, Task>? BeforeRefusal { get; set; }

        public int Refusals => Volatile.Read(ref _refusals);

        public void Replace(IServiceCollection services)
        {
            var registered = services.Last(d => d.ServiceType == typeof(IJobQueueStore));
            services.AddSingleton<IJobQueueStore>(sp =>
            {
                Inner = (IJobQueueStore)registered.ImplementationFactory!(sp);
                return this;
            });
        }

        /// <summary>Stores a copy of <paramref name="job"/> under another id, as another server's accepted submission.</summary>
        public async Task AcceptCopyAsync(QueuedJob job)
        {
            var copy = job with { Id = job.Id + "x" };
            var stored = await Inner.TryEnqueueAsync(copy, "status", """{"status":"queued"}""", new UnfinishedJobLimit(["training"], 100), CancellationToken.None);
            Assert.True(stored.Enqueued);
        }

        public override async Task<LimitedEnqueue> TryEnqueueAsync(QueuedJob job, string firstEventType, string firstEventData, UnfinishedJobLimit limit,
            CancellationToken cancellationToken)
        {
            if (!Refuse)
            {
                return await Inner.TryEnqueueAsync(job, firstEventType, firstEventData, limit, cancellationToken);
            }

            if (BeforeRefusal is { } before)
            {
                await before(job);
            }

            Interlocked.Increment(ref _refusals);
            return new LimitedEnqueue(false, limit.Limit);
        }
    }
}
