using Maas.Core.Jobs;

namespace Maas.Core.Tests.Jobs;

/// <summary>Pages merged from several sources: every shown job once, in order, whatever the page size, hidden jobs and rounds.</summary>
public sealed class JobPagesTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 4)]
    [InlineData(2, 2)]
    [InlineData(3, 1)]
    [InlineData(5, 4)]
    [InlineData(7, 3)]
    [InlineData(50, 4)]
    [InlineData(1000, 1)]
    public async Task Following_next_shows_every_visible_job_once_in_order(int limit, int maxRounds)
    {
        var random = new Random(limit * 31 + maxRounds);
        // Four sources, many jobs to a millisecond across them, a third of them hidden from the caller.
        var sources = Enumerable.Range(0, 4).Select(s => Enumerable.Range(0, 40 + (s * 7))
            .Select(i => new ListedJob<string>(new JobPosition(random.Next(30), $"{(char)('a' + s)}{i:D3}"), random.Next(3) == 0 ? null : $"{(char)('a' + s)}{i:D3}"))
            .ToList()).ToList();
        var expected = sources.SelectMany(s => s).OrderBy(j => j.Position, Comparer<JobPosition>.Create(JobPosition.Compare))
            .Where(j => j.Shown is not null).Select(j => j.Shown!).ToList();

        var (shown, pages) = await ReadAllAsync(sources, limit, maxRounds);

        Assert.Equal(expected, shown);
        Assert.All(pages, p => Assert.True(p.Jobs.Count <= limit));
    }

    [Fact]
    public async Task A_page_that_ends_exactly_at_the_last_job_has_no_next_and_a_full_page_of_visible_jobs_needs_one_round()
    {
        var calls = 0;
        var jobs = Enumerable.Range(0, 6).Select(i => new ListedJob<string>(new JobPosition(100 - i, $"j{i}"), $"j{i}")).ToList();
        JobPageSource<string> source = (after, limit) =>
        {
            calls++;
            return Task.FromResult<IReadOnlyList<ListedJob<string>>>(jobs.Where(j => after is null || j.Position.IsAfter(after.Value)).Take(limit).ToList());
        };

        var first = await JobPages.ReadAsync([source], null, 3, 4);
        Assert.Equal(["j0", "j1", "j2"], first.Jobs);
        Assert.Equal(new JobPosition(98, "j2"), first.Next);
        var second = await JobPages.ReadAsync([source], first.Next, 3, 4);
        Assert.Equal(["j3", "j4", "j5"], second.Jobs);
        Assert.Null(second.Next);
        Assert.Equal(2, calls);
    }

    [Theory]
    [InlineData("1.abc", 1, "abc")]
    [InlineData("1765000000123.train_0a1b", 1765000000123, "train_0a1b")]
    [InlineData("0.ftjob-9f", 0, "ftjob-9f")]
    [InlineData("5.a.b:c", 5, "a.b:c")]
    public void A_position_reads_back_what_it_wrote(string text, long ms, string id)
    {
        Assert.True(JobPosition.TryParse(text, out var position));
        Assert.Equal(new JobPosition(ms, id), position);
        Assert.Equal(text, position.ToString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("12")]
    [InlineData(".abc")]
    [InlineData("12.")]
    [InlineData("-1.abc")]
    [InlineData("+1.abc")]
    [InlineData(" 1.abc")]
    [InlineData("1.a b")]
    [InlineData("1.a/b")]
    [InlineData("1.é")]
    [InlineData("99999999999999999999.abc")]
    public void Anything_else_is_no_position(string? text) => Assert.False(JobPosition.TryParse(text, out _));

    private static async Task<(List<string> Shown, List<JobPage<string>> Pages)> ReadAllAsync(List<List<ListedJob<string>>> sources, int limit, int maxRounds)
    {
        var order = Comparer<JobPosition>.Create(JobPosition.Compare);
        var readers = sources.Select(rows =>
        {
            var sorted = rows.OrderBy(r => r.Position, order).ToList();
            return (JobPageSource<string>)((after, count) => Task.FromResult<IReadOnlyList<ListedJob<string>>>(
                sorted.Where(r => after is null || r.Position.IsAfter(after.Value)).Take(count).ToList()));
        }).ToList();
        var shown = new List<string>();
        var pages = new List<JobPage<string>>();
        JobPosition? next = null;
        do
        {
            var page = await JobPages.ReadAsync(readers, next, limit, maxRounds);
            Assert.True(pages.Count < 10_000, "next never ends");
            Assert.True(next is null || page.Next is null || page.Next.Value.IsAfter(next.Value), "next did not move on");
            pages.Add(page);
            shown.AddRange(page.Jobs);
            next = page.Next;
        }
        while (next is not null);
        return (shown, pages);
    }
}
