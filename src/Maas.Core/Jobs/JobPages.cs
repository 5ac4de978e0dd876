namespace Maas.Core.Jobs;

/// <summary>
/// Pages of jobs merged from several sources (imports, and each kind of worker-run job), newest first. Each source
/// reads only what one page needs from its table; the page goes on from a <see cref="JobPosition"/>, so jobs created
/// between two pages never move the later pages, and jobs of the same millisecond are neither skipped nor repeated.
/// </summary>
public static class JobPages
{
    /// <summary>
    /// The page after <paramref name="before"/> (the first page when null). Jobs a source lists but the caller may
    /// not see are passed over; when they are many, the page is read in up to <paramref name="maxRounds"/> rounds and
    /// may then hold fewer than <paramref name="limit"/> jobs, with a <see cref="JobPage{T}.Next"/> to go on from.
    /// </summary>
    public static async Task<JobPage<T>> ReadAsync<T>(IReadOnlyList<JobPageSource<T>> sources, JobPosition? before, int limit, int maxRounds)
        where T : class
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRounds, 1);
        var page = new List<T>(Math.Min(limit, 128));
        var position = before;
        for (var round = 1; ; round++)
        {
            // One more than a page from each source: a source that fills it has more after its last row.
            var candidates = new List<ListedJob<T>>();
            JobPosition? boundary = null;
            foreach (var source in sources)
            {
                var rows = await source(position, limit + 1).ConfigureAwait(false);
                candidates.AddRange(rows);
                if (rows.Count > limit && (boundary is null || JobPosition.Compare(rows[^1].Position, boundary.Value) < 0))
                {
                    boundary = rows[^1].Position;
                }
            }

            // Every job up to the boundary (the newest of the last rows of the sources that have more) is known; past
            // it, such a source may hold jobs not read yet, so the page must not reach past it.
            candidates.Sort((a, b) => JobPosition.Compare(a.Position, b.Position));
            JobPosition? lastShown = null;
            foreach (var candidate in candidates)
            {
                if (boundary is { } end && candidate.Position.IsAfter(end))
                {
                    break;
                }

                if (candidate.Shown is null)
                {
                    continue;
                }

                if (page.Count == limit)
                {
                    return new JobPage<T>(page, lastShown);
                }

                page.Add(candidate.Shown);
                lastShown = candidate.Position;
            }

            if (boundary is null)
            {
                return new JobPage<T>(page, null);
            }

            // Every known job is on the page or hidden from the caller: the next page starts at the boundary.
            if (page.Count == limit || round == maxRounds)
            {
                return new JobPage<T>(page, boundary);
            }

            position = boundary;
        }
    }
}
