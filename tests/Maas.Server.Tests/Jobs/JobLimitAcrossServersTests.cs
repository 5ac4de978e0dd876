using System.Net;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Jobs;

/// <summary>
/// The per-tenant job limit with two servers on one database (a supported set-up): each server orders only its own
/// submissions, so the limit rests on the store, which counts and inserts in one step for both.
/// </summary>
public sealed class JobLimitAcrossServersTests
{
    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Two_servers_that_both_counted_a_last_free_place_at_once_enqueue_only_one_job(Db db)
    {
        await using var database = await TestDatabase.CreateAsync(db);
        var settings = new Dictionary<string, string?>
        {
            ["Maas:Training:Workers"] = "0", // an accepted job stays queued, holding its place
            ["Maas:Training:MaxUnfinishedJobsPerTenant"] = "1",
        };
        var meeting = new CountsMeet(2);
        await using var first = await MaasTestServer.StartAsync(database, settings, configure: b => meeting.Replace(b.Services));
        await using var second = await MaasTestServer.StartAsync(database, settings, dataDir: first.DataDir, configure: b => meeting.Replace(b.Services)); // the same database
        var source = await first.Client.CreateModelAsync();
        await first.Client.UploadAsync(source, TestArtifacts.Onnx(1), "model.onnx");

        // One submission through each server; each goes on from its count of the tenant's jobs only once the other has
        // counted too, so both found the one place free, as two servers can at the same instant. Only one may take it.
        var answers = await Task.WhenAll(new[] { first, second }.Select(async server =>
        {
            using var response = await server.Client.PostAsync($"api/v1/models/{source}/versions/1:optimize", Api.Json("""{"method": "onnx-fp16"}"""));
            if (response.StatusCode != HttpStatusCode.Accepted)
            {
                var error = await response.ErrorAsync(HttpStatusCode.TooManyRequests, "too_many_jobs");
                Assert.Equal(1, (int)error["limit"]!);
            }

            return response.StatusCode;
        })).WaitAsync(TimeSpan.FromMinutes(2));

        Assert.True(meeting.Met, "the two submissions' counts did not meet");
        Assert.Single(answers, a => a == HttpStatusCode.Accepted);
        var jobs = first.Services.GetRequiredService<IJobQueueStore>();
        Assert.Single(await jobs.ListAsync("optimization", null, 10, 0, CancellationToken.None));
    }

    /// <summary>
    /// A server's job store whose first <c>count</c> counts of unfinished jobs, across every server it was given to,
    /// answer only once all of them have been made.
    /// </summary>
    private sealed class CountsMeet(int count)
    {
        private readonly TaskCompletionSource _met = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _waiting = count;

        public bool Met => _met.Task.IsCompletedSuccessfully;

        public void Replace(IServiceCollection services)
        {
            var registered = services.Last(d => d.ServiceType == typeof(IJobQueueStore));
            services.AddSingleton<IJobQueueStore>(sp => new Store(this, (IJobQueueStore)registered.ImplementationFactory!(sp)));
        }

        private async Task MeetAsync()
        {
            if (Volatile.Read(ref _waiting) > 0)
            {
                if (Interlocked.Decrement(ref _waiting) == 0)
                {
                    _met.SetResult();
                }

                await _met.Task.WaitAsync(TimeSpan.FromMinutes(1));
            }
        }

        private sealed class Store : ForwardingJobQueueStore
        {
            private readonly CountsMeet _meeting;

            public Store(CountsMeet meeting, IJobQueueStore inner)
            {
                _meeting = meeting;
                Inner = inner;
            }

            public override async Task<int> CountUnfinishedAsync(string tenant, IReadOnlyList<string> kinds, CancellationToken cancellationToken)
            {
                var count = await Inner.CountUnfinishedAsync(tenant, kinds, cancellationToken);
                await _meeting.MeetAsync();
                return count;
            }
        }
    }
}
