using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Server.FineTuning;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Training;

/// <summary>
/// Cancelling a job that is already being cancelled, on every cancel route. The server has no worker: a job is made
/// "running" by claiming it from the queue as a worker in another process would, so it stays running (its cancel
/// pending) for as long as the test needs, with no training at all. Cancels that arrive at the same instant are made
/// to meet inside the job store, after each has read the job.
/// </summary>
public sealed class JobCancelTests
{
    private static async Task<MaasTestServer> StartAsync(CancelsMeet? meeting = null) =>
        await MaasTestServer.StartAsync(settings: new Dictionary<string, string?> { ["Maas:Training:Workers"] = "0" }, configure: b => meeting?.Replace(b.Services));

    private static async Task<QueuedJob> ClaimAsync(MaasTestServer server, string kind)
    {
        var now = DateTimeOffset.UtcNow;
        var job = await server.Services.GetRequiredService<IJobQueueStore>().ClaimAsync([kind], "remote-worker", now.AddHours(1), now, CancellationToken.None);
        Assert.NotNull(job);
        return job;
    }

    private static async Task<JsonArray> EventsAsync(HttpClient client, string route)
    {
        var page = await (await client.GetAsync(route)).JsonAsync(HttpStatusCode.OK);
        return page["events"]?.AsArray() ?? page["data"]!.AsArray();
    }

    [Fact]
    public async Task A_second_cancel_of_a_training_job_being_cancelled_is_job_finished_on_every_route_and_adds_no_event()
    {
        await using var server = await StartAsync();
        var client = server.Client;
        var id = await RunningTrainingJobAsync(server);

        var first = await (await client.DeleteAsync($"api/v1/training/jobs/{id}")).JsonAsync(HttpStatusCode.Accepted);
        Assert.Equal(("running", true), ((string?)first["status"], (bool)first["cancel_requested"]!));

        // Until its worker stops it, the job says it is being cancelled.
        Assert.Equal("cancelling", (string?)first["stage"]);
        Assert.Equal("cancelling", (string?)(await (await client.GetAsync($"api/v1/jobs/{id}")).JsonAsync(HttpStatusCode.OK))["stage"]);

        // A second cancel answered 202 again and logged another cancel_requested; every route now refuses it alike.
        await (await client.PostAsync($"api/v1/training/jobs/{id}/cancel", null)).ErrorAsync(HttpStatusCode.Conflict, "job_finished");
        await (await client.DeleteAsync($"api/v1/training/jobs/{id}")).ErrorAsync(HttpStatusCode.Conflict, "job_finished");
        var refused = await (await client.DeleteAsync($"api/v1/jobs/{id}")).ErrorAsync(HttpStatusCode.Conflict, "job_finished");
        Assert.Contains("already being cancelled", (string?)refused["message"]);

        var events = await EventsAsync(client, $"api/v1/training/jobs/{id}/events");
        Assert.Single(events, e => (string?)e!["type"] == "cancel_requested");
        Assert.Single(await EventsAsync(client, $"api/v1/jobs/{id}/events"), e => (string?)e!["type"] == "cancel_requested");

        // Event numbers are 64-bit, and so is "after" (it stopped at 2147483647 with 400 "out of range").
        foreach (var route in new[] { $"api/v1/training/jobs/{id}/events", $"api/v1/jobs/{id}/events" })
        {
            var far = await (await client.GetAsync($"{route}?after={long.MaxValue}")).JsonAsync(HttpStatusCode.OK);
            Assert.Equal((0, long.MaxValue), (far["events"]!.AsArray().Count, (long)far["next_after"]!));
            var beyond = await (await client.GetAsync($"{route}?after=9223372036854775808")).ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
            Assert.Contains("out of range", (string?)beyond["message"]);
        }
    }

    [Fact]
    public async Task A_second_fine_tuning_cancel_is_job_finished_and_the_job_reads_cancelled_meanwhile()
    {
        await using var server = await StartAsync();
        var client = server.Client;
        var id = await RunningFineTuningJobAsync(server);

        Assert.Equal("cancelled", (string?)(await (await client.PostAsync($"v1/fine_tuning/jobs/{id}/cancel", null)).JsonAsync(HttpStatusCode.OK))["status"]);

        // It read "running" again right after being answered "cancelled", and a second cancel answered 200 with a second
        // "Cancellation requested" event.
        Assert.Equal("cancelled", (string?)(await (await client.GetAsync($"v1/fine_tuning/jobs/{id}")).JsonAsync(HttpStatusCode.OK))["status"]);
        await FineTuningRefusedAsync(await client.PostAsync($"v1/fine_tuning/jobs/{id}/cancel", null));
        await (await client.DeleteAsync($"api/v1/jobs/{id}")).ErrorAsync(HttpStatusCode.Conflict, "job_finished");

        var events = await EventsAsync(client, $"v1/fine_tuning/jobs/{id}/events");
        Assert.Single(events, e => (string?)e!["message"] == "Cancellation requested");
    }

    // A job registering its result (past its point of no return) can no longer keep a promise to stop: a cancel is
    // refused at once, saying so, rather than answered 202 and followed by a job that ends succeeded.
    [Fact]
    public async Task A_cancel_of_a_job_already_registering_its_result_is_refused_as_too_late_on_every_route()
    {
        await using var server = await StartAsync();
        var client = server.Client;
        var store = server.Services.GetRequiredService<IJobQueueStore>();
        var training = await RunningTrainingJobAsync(server);
        var fineTuning = await RunningFineTuningJobAsync(server);
        foreach (var id in new[] { training, fineTuning })
        {
            Assert.Equal(LeaseState.Held, await store.BeginFinishingAsync(id, "remote-worker", DateTimeOffset.UtcNow, CancellationToken.None));
        }

        foreach (var route in new[] { $"api/v1/jobs/{training}", $"api/v1/training/jobs/{training}" })
        {
            // The job says so before anyone tries (the console hides its cancel button).
            var shown = await (await client.GetAsync(route)).JsonAsync(HttpStatusCode.OK);
            Assert.True((bool)shown["finishing"]!, shown.ToJsonString());
            Assert.False((bool)shown["cancel_requested"]!);
            var refused = await (await client.DeleteAsync(route)).ErrorAsync(HttpStatusCode.Conflict, "job_finished");
            Assert.Contains("too late to cancel", (string?)refused["message"]);
            Assert.Equal("running", (string?)refused["status"]);
        }

        await (await client.PostAsync($"api/v1/training/jobs/{training}/cancel", null)).ErrorAsync(HttpStatusCode.Conflict, "job_finished");
        using (var openAi = await client.PostAsync($"v1/fine_tuning/jobs/{fineTuning}/cancel", null))
        {
            var text = await openAi.Content.ReadAsStringAsync();
            Assert.True(openAi.StatusCode == HttpStatusCode.BadRequest, text);
            Assert.Equal("job_finished", (string?)JsonNode.Parse(text)!["error"]!["code"]);
            Assert.Contains("too late to cancel", (string?)JsonNode.Parse(text)!["error"]!["message"]);
        }

        // Nothing was recorded: the jobs run on to their end, and no cancel event promises otherwise.
        foreach (var id in new[] { training, fineTuning })
        {
            var job = await store.GetAsync(id, CancellationToken.None);
            Assert.True(job is { Status: JobStatus.Running, CancelRequested: false, Finishing: true });
            Assert.DoesNotContain(await EventsAsync(client, $"api/v1/jobs/{id}/events"), e => (string?)e!["type"] == "cancel_requested");
        }

        Assert.Equal("running", (string?)(await (await client.GetAsync($"v1/fine_tuning/jobs/{fineTuning}")).JsonAsync(HttpStatusCode.OK))["status"]);
    }

    // Two cancels that both read the job before either changed it: both passed the route's "already being cancelled"
    // check, both answered as the first cancel and both logged a cancel event. The store now says which one changed it.
    [Theory]
    [InlineData("api/v1/training/jobs", "api/v1/training/jobs")]
    [InlineData("api/v1/jobs", "api/v1/training/jobs")]
    [InlineData("api/v1/jobs", "api/v1/jobs")]
    public async Task Of_two_cancels_of_a_training_job_at_the_same_instant_one_is_accepted_and_one_is_job_finished(string first, string second)
    {
        var meeting = new CancelsMeet();
        await using var server = await StartAsync(meeting);
        var client = server.Client;
        var id = await RunningTrainingJobAsync(server);

        meeting.Expect(2);
        var answers = await Task.WhenAll(client.DeleteAsync($"{first}/{id}"), client.DeleteAsync($"{second}/{id}"));
        Assert.Single(answers, a => a.StatusCode == HttpStatusCode.Accepted);
        var refused = await answers.Single(a => a.StatusCode != HttpStatusCode.Accepted).ErrorAsync(HttpStatusCode.Conflict, "job_finished");
        Assert.Contains("already being cancelled", (string?)refused["message"]);
        Assert.Single(await EventsAsync(client, $"api/v1/jobs/{id}/events"), e => (string?)e!["type"] == "cancel_requested");
    }

    [Fact]
    public async Task Of_two_fine_tuning_cancels_at_the_same_instant_one_is_answered_cancelled_and_one_is_job_finished()
    {
        var meeting = new CancelsMeet();
        await using var server = await StartAsync(meeting);
        var client = server.Client;
        var id = await RunningFineTuningJobAsync(server);

        meeting.Expect(2);
        var answers = await Task.WhenAll(client.PostAsync($"v1/fine_tuning/jobs/{id}/cancel", null), client.PostAsync($"v1/fine_tuning/jobs/{id}/cancel", null));
        Assert.Equal("cancelled", (string?)(await answers.Single(a => a.StatusCode == HttpStatusCode.OK).JsonAsync(HttpStatusCode.OK))["status"]);
        await FineTuningRefusedAsync(answers.Single(a => a.StatusCode != HttpStatusCode.OK));
        Assert.Single(await EventsAsync(client, $"v1/fine_tuning/jobs/{id}/events"), e => (string?)e!["message"] == "Cancellation requested");
    }

    private static async Task FineTuningRefusedAsync(HttpResponseMessage response)
    {
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, text);
            Assert.Equal("job_finished", (string?)JsonNode.Parse(text)!["error"]!["code"]);
        }
    }

    // A training job a remote worker runs.
    private static async Task<string> RunningTrainingJobAsync(MaasTestServer server)
    {
        var dataset = await TrainingApiTests.DatasetAsync(server.Client, LineCsv.Bytes, "line.csv");
        var id = (string)(await (await server.Client.PostAsync("api/v1/training/jobs", Api.Json(
            $$"""{"model": "{{Names.Unique("line")}}", "dataset": "{{dataset}}", "task": "regression", "label":""" +
            $$""" "y", "trainer": "sdca"}"""))).JsonAsync(HttpStatusCode.Accepted))["id"]!;
        Assert.Equal(id, (await ClaimAsync(server, "training")).Id);
        return id;
    }

    // A fine-tuning job a remote worker runs (stored directly: no base model or file is needed to cancel it).
    private static async Task<string> RunningFineTuningJobAsync(MaasTestServer server)
    {
        var now = DateTimeOffset.UtcNow;
        var spec = new FineTuningSpec
        {
            Model = "base",
            BaseModel = "base",
            BaseVersion = 1,
            TrainingFile = "file-1",
            TrainingSha256 = new string('0', 64),
            Epochs = 1,
            LearningRateMultiplier = 1,
            LearningRate = 1e-5,
            Seed = 1,
            TargetModel = Names.Unique("base-ft"),
            Window = 64,
        };
        var id = "ftjob-" + Names.Unique("c");
        await server.Services.GetRequiredService<IJobQueueStore>().EnqueueAsync(
            new QueuedJob
            {
                Id = id,
                Kind = FineTuningSpec.Kind,
                Tenant = "default",
                Status = JobStatus.Queued,
                Spec = JsonSerializer.Serialize(spec, RegistryJson.Options),
                CreatedAt = now,
                UpdatedAt = now,
            },
            CancellationToken.None);
        Assert.Equal(id, (await ClaimAsync(server, FineTuningSpec.Kind)).Id);
        return id;
    }

    /// <summary>
    /// The server's job store, whose cancels, once <see cref="Expect"/> is called, wait for one another: each enters
    /// the store only when all the expected ones have read the job and got there, as requests at the same instant can.
    /// </summary>
    private sealed class CancelsMeet : ForwardingJobQueueStore
    {
        private readonly TaskCompletionSource _met = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _waiting = -1;

        public void Expect(int count) => Volatile.Write(ref _waiting, count);

        public void Replace(IServiceCollection services)
        {
            var registered = services.Last(d => d.ServiceType == typeof(IJobQueueStore));
            services.AddSingleton<IJobQueueStore>(sp =>
            {
                Inner = (IJobQueueStore)registered.ImplementationFactory!(sp);
                return this;
            });
        }

        public override async Task<CancelOutcome?> RequestCancelAsync(string id, DateTimeOffset now, CancellationToken cancellationToken)
        {
            if (Volatile.Read(ref _waiting) > 0)
            {
                if (Interlocked.Decrement(ref _waiting) == 0)
                {
                    _met.SetResult();
                }

                await _met.Task.WaitAsync(TimeSpan.FromMinutes(1), CancellationToken.None);
            }

            return await Inner.RequestCancelAsync(id, now, cancellationToken);
        }
    }
}
