using System.Globalization;

namespace Maas.Core.Jobs;

/// <summary>
/// A place in the newest-first list of jobs: a job's creation time to the millisecond (as the database keeps it) and
/// its id, which orders the jobs of one millisecond (ordinally, ascending). Every job source lists in this order, so a
/// page merged from several sources goes on exactly where the last one ended, whatever was created meanwhile.
/// </summary>
public readonly record struct JobPosition(long CreatedAtMs, string Id)
{
    /// <summary>The most characters a position's text may have (a millisecond count, a dot and an id).</summary>
    public const int MaxTextLength = 160;

    private const int MaxIdLength = 128;

    /// <summary>The position of a job created at <paramref name="createdAt"/> (cut to the millisecond, as stored).</summary>
    public static JobPosition Of(DateTimeOffset createdAt, string id) => new(createdAt.ToUnixTimeMilliseconds(), id);

    /// <summary>The position of an import job in the list.</summary>
    public static JobPosition Of(Job job) => Of(job.CreatedAt, job.Id);

    /// <summary>The position of a worker-run job (training, optimisation, fine-tuning) in the list.</summary>
    public static JobPosition Of(Queue.QueuedJob job) => Of(job.CreatedAt, job.Id);

    /// <summary>
    /// Negative when <paramref name="a"/> comes before <paramref name="b"/> in the list (it is newer, or of the same
    /// millisecond with the smaller id), zero when they are the same place.
    /// </summary>
    public static int Compare(JobPosition a, JobPosition b)
    {
        var byTime = b.CreatedAtMs.CompareTo(a.CreatedAtMs);
        return byTime != 0 ? byTime : string.CompareOrdinal(a.Id, b.Id);
    }

    /// <summary>True when this position comes after <paramref name="other"/> in the list (an older job).</summary>
    public bool IsAfter(JobPosition other) => Compare(this, other) > 0;

    /// <summary>The text form, <c>{milliseconds}.{id}</c>, that <see cref="TryParse"/> reads back.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{CreatedAtMs}.{Id}");

    /// <summary>Reads the text <see cref="ToString"/> wrote; false for anything else.</summary>
    public static bool TryParse(string? text, out JobPosition position)
    {
        position = default;
        if (string.IsNullOrEmpty(text) || text.Length > MaxTextLength)
        {
            return false;
        }

        var dot = text.IndexOf('.', StringComparison.Ordinal);
        if (dot is < 1 or > 19
            || !long.TryParse(text.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
        {
            return false;
        }

        var id = text[(dot + 1)..];
        if (id.Length is 0 or > MaxIdLength || !id.All(IsIdCharacter))
        {
            return false;
        }

        position = new JobPosition(ms, id);
        return true;
    }

    // Ids are made of letters, digits and a few separators ("train_...", "ftjob-...", hex); nothing else is a job's.
    private static bool IsIdCharacter(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or ':';
}
