using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Maas.Cli.Hosting;
using Maas.Cli.Tests.Support;
using Maas.Client;
using Maas.Client.Tenancy;
using Maas.Core.Jobs;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Cli.Tests;

/// <summary><c>maas jobs list</c> and the client's job pages over more jobs than one page of the server holds.</summary>
[Collection(CliServerCollection.Name)]
public sealed partial class JobsCommandTests(CliServerFixture fixture)
{
    [Fact]
    public async Task Jobs_list_follows_the_pages_up_to_limit_or_all_and_prints_where_the_older_jobs_start()
    {
        // 1005 imports of a tenant of their own, more than the server's largest page (1000), three to a millisecond.
        var (secret, expected) = await TenantWithJobsAsync(1005);

        var all = (await fixture.RunWithKeyAsync(secret, "jobs", "list", "--all", "--json")).Json().AsArray();
        Assert.Equal(expected, all.Select(j => (string?)j!["id"]));
        var some = (await fixture.RunWithKeyAsync(secret, "jobs", "list", "--limit", "1002", "--json")).Json().AsArray();
        Assert.Equal(expected.Take(1002), some.Select(j => (string?)j!["id"]));
        var byDefault = (await fixture.RunWithKeyAsync(secret, "jobs", "list", "--kind", "import", "--json")).Json().AsArray();
        Assert.Equal(expected.Take(100), byDefault.Select(j => (string?)j!["id"]));

        // The table ends with the command that lists the older jobs, and that command goes on from there.
        var table = await fixture.RunWithKeyAsync(secret, "jobs", "list", "--limit", "3", "--kind", "import");
        Assert.True(table.ExitCode == ExitCodes.Ok, table.ToString());
        Assert.All(expected.Take(3), id => Assert.Contains(id, table.Stdout, StringComparison.Ordinal));
        Assert.DoesNotContain(expected[3], table.Stdout, StringComparison.Ordinal);
        var older = OlderJobs().Match(table.Stdout);
        Assert.True(older.Success, table.Stdout);
        var next = (await fixture.RunWithKeyAsync(secret, "jobs", "list", "--before", older.Groups["before"].Value, "--limit", "2", "--json")).Json().AsArray();
        Assert.Equal(expected.Skip(3).Take(2), next.Select(j => (string?)j!["id"]));

        // The last jobs end the list with no such line.
        var last = await fixture.RunWithKeyAsync(secret, "jobs", "list", "--all");
        Assert.True(last.ExitCode == ExitCodes.Ok, last.ToString());
        Assert.DoesNotContain("older jobs", last.Stdout, StringComparison.Ordinal);

        var both = (await fixture.RunWithKeyAsync(secret, "jobs", "list", "--all", "--limit", "5")).AssertFailure(ExitCodes.Usage, "usage");
        Assert.Contains("--limit or --all", both, StringComparison.Ordinal);
        var bad = (await fixture.RunWithKeyAsync(secret, "jobs", "list", "--before", "not-a-cursor")).AssertFailure(ExitCodes.Failure, "invalid_query");
        Assert.Contains("'not-a-cursor'", bad, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_client_reads_every_job_a_page_at_a_time_and_a_page_goes_on_from_next_before()
    {
        var (secret, expected) = await TenantWithJobsAsync(11);
        using var client = new MaasClient(fixture.Server.BaseAddress, secret);

        var listed = new List<string>();
        await foreach (var job in client.ListAllJobsAsync(pageSize: 4))
        {
            listed.Add(job.Id);
        }

        Assert.Equal(expected, listed);

        var first = await client.ListJobsAsync(5);
        Assert.Equal(expected.Take(5), first.Jobs.Select(j => j.Id));
        Assert.NotNull(first.NextBefore);
        var second = await client.ListJobsBeforeAsync(first.NextBefore, 5, "import");
        Assert.Equal(expected.Skip(5).Take(5), second.Jobs.Select(j => j.Id));
        var third = await client.ListJobsBeforeAsync(second.NextBefore, 5);
        Assert.Equal(expected.Skip(10), third.Jobs.Select(j => j.Id));
        Assert.Null(third.NextBefore);
    }

    [GeneratedRegex(@"older jobs: maas jobs list --before (?<before>\S+) --kind import")]
    private static partial Regex OlderJobs();

    // A tenant with a models:read key and `count` finished imports stored straight into the server's job store (as the
    // import runner stores them); the key's secret and the jobs' ids, newest first.
    private async Task<(string Secret, List<string> Ids)> TenantWithJobsAsync(int count)
    {
        var tenant = "t-" + Guid.NewGuid().ToString("n")[..10];
        await fixture.Client.CreateTenantAsync(tenant);
        var key = await fixture.Client.CreateKeyAsync(new NewApiKey("paging") { Tenant = tenant, Scopes = ["models:read"] });
        var store = fixture.Server.Services.GetRequiredService<IJobStore>();
        var start = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000 + (RandomNumberGenerator.GetInt32(1_000_000) * 1000L));
        var jobs = new List<JobPosition>();
        for (var i = 0; i < count; i++)
        {
            var at = start.AddMilliseconds(i / 3);
            var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
            await store.CreateJobAsync(FinishedImports.Of(id, tenant, "paged", at), CancellationToken.None);
            jobs.Add(JobPosition.Of(at, id));
        }

        jobs.Sort(JobPosition.Compare);
        return (key.Key!, jobs.Select(j => j.Id).ToList());
    }
}
