using Maas.Core.Jobs;
using Maas.Storage.Sql;

namespace Maas.Storage.Jobs;

/// <summary>
/// The SQL of a page of jobs in <see cref="JobPosition"/>'s order (newest first, then by id, ordinally), shared by the
/// imports' table and the queued jobs' table, so that a list merged from both pages the same way.
/// </summary>
internal static class JobPageSql
{
    /// <summary>The ORDER BY clause.</summary>
    public static string Order(SqlDialect dialect) => $"ORDER BY created_at DESC, {dialect.Ordinal("id")}";

    /// <summary>
    /// The condition of the rows after the position in @BeforeAt and @BeforeId (see <see cref="Parameters"/>): older,
    /// or of the same millisecond with a greater id. Written so that an index on created_at bounds the scan.
    /// </summary>
    public static string After(SqlDialect dialect) => $"created_at <= @BeforeAt AND (created_at < @BeforeAt OR {dialect.Ordinal("id")} > @BeforeId)";

    /// <summary>The values of @BeforeAt and @BeforeId.</summary>
    public static (long? At, string? Id) Parameters(JobPosition? before) => (before?.CreatedAtMs, before?.Id);
}
