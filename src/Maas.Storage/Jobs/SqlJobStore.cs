using Dapper;
using Maas.Core.Jobs;
using Maas.Core.Registry;
using Maas.Storage.Sql;

namespace Maas.Storage.Jobs;

/// <summary>
/// The server's own jobs (model imports, which <see cref="JobRunner"/> runs in the process that accepted them) on the
/// registry's database. A job is owned by the instance that created it, so a recovery fails only the unfinished jobs
/// of an instance that is gone.
/// </summary>
public sealed class SqlJobStore : IJobStore
{
    private const string JobColumns = """
        id, kind, status, model, version, bytes_done, bytes_total, stage, error_code, error_message, result, created_by, created_at, updated_at, finished_at, tenant
        """;

    static SqlJobStore()
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true;
    }

    /// <summary>
    /// Creates the store over a dialect owned by someone else (the registry store's); jobs it creates are owned by
    /// <paramref name="instanceId"/> (null: by none, so any recovery may fail them).
    /// </summary>
    public SqlJobStore(SqlDialect dialect, string? instanceId = null)
    {
        Dialect = dialect;
        InstanceId = instanceId;
    }

    /// <summary>The database dialect.</summary>
    public SqlDialect Dialect { get; }

    /// <summary>The instance that owns the jobs this store creates.</summary>
    public string? InstanceId { get; }

    /// <inheritdoc />
    public async Task CreateJobAsync(Job job, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(Command(
            $"INSERT INTO jobs ({JobColumns}, instance_id) VALUES (@Id, @Kind, @Status, @Model, @Version, @BytesDone, @BytesTotal, @Stage, @ErrorCode, @ErrorMessage, @Result, " +
            $"@CreatedBy, @CreatedAt, @UpdatedAt, @FinishedAt, @Tenant, @Instance)",
            Owned(JobParameters(job)),
            cancellationToken)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task UpdateJobAsync(Job job, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(Command(
            """
            UPDATE jobs SET status = @Status, version = @Version, bytes_done = @BytesDone, bytes_total = @BytesTotal, stage = @Stage,
                error_code = @ErrorCode, error_message = @ErrorMessage, result = @Result, updated_at = @UpdatedAt, finished_at = @FinishedAt
            WHERE id = @Id
            """,
            JobParameters(job),
            cancellationToken)).ConfigureAwait(false);
    }

    // A job's parameters with the instance that runs it.
    private DynamicParameters Owned(object parameters)
    {
        var owned = new DynamicParameters(parameters);
        owned.Add("Instance", InstanceId);
        return owned;
    }

    private static object JobParameters(Job job) => new
    {
        job.Id,
        job.Kind,
        Status = job.Status.ToString().ToLowerInvariant(),
        job.Model,
        job.Tenant,
        Version = (long?)job.Version,
        job.BytesDone,
        job.BytesTotal,
        job.Stage,
        ErrorCode = job.Error?.Code,
        ErrorMessage = job.Error?.Message,
        Result = job.Result is null ? null : RegistryJson.Serialize(job.Result),
        job.CreatedBy,
        CreatedAt = job.CreatedAt.ToUnixTimeMilliseconds(),
        UpdatedAt = job.UpdatedAt.ToUnixTimeMilliseconds(),
        FinishedAt = job.FinishedAt?.ToUnixTimeMilliseconds(),
    };

    /// <inheritdoc />
    public async Task<Job?> GetJobAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<JobRow>(Command(
            $"SELECT {JobColumns} FROM jobs WHERE id = @Id", new { Id = id }, cancellationToken)).ConfigureAwait(false);
        return row?.ToJob();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<Job>> ListJobsAsync(int limit, string? tenant, JobPosition? before, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var conditions = new List<string>();
        if (tenant is not null)
        {
            conditions.Add("tenant = @Tenant");
        }

        if (before is not null)
        {
            conditions.Add(JobPageSql.After(Dialect));
        }

        var where = conditions.Count == 0 ? "" : $"WHERE {string.Join(" AND ", conditions)} ";
        var (beforeAt, beforeId) = JobPageSql.Parameters(before);
        var rows = await connection.QueryAsync<JobRow>(Command(
            $"SELECT {JobColumns} FROM jobs {where}{JobPageSql.Order(Dialect)} LIMIT @Limit",
            new { Limit = (long)limit, Tenant = tenant, BeforeAt = beforeAt, BeforeId = beforeId },
            cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToJob()).ToArray();
    }

    /// <inheritdoc />
    public async Task<int> FailUnfinishedJobsAsync(JobError error, DateTimeOffset now, DateTimeOffset lapsedBefore, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteAsync(Command(
            $"UPDATE jobs SET status = 'failed', error_code = @Code, error_message = @Message, updated_at = @Now, finished_at = @Now WHERE status IN ('queued', 'running') AND " +
            $"{SqlRegistryStore.NotLive}",
            new { error.Code, error.Message, Now = now.ToUnixTimeMilliseconds(), LapsedBefore = lapsedBefore.ToUnixTimeMilliseconds(), Self = InstanceId ?? "" },
            cancellationToken)).ConfigureAwait(false);
    }

    private static CommandDefinition Command(string sql, object? parameters, CancellationToken cancellationToken) =>
        new(sql, parameters, cancellationToken: cancellationToken);

    private sealed class JobRow
    {
        public string Id { get; set; } = "";

        public string Kind { get; set; } = "";

        public string Status { get; set; } = "";

        public string? Model { get; set; }

        public string? Tenant { get; set; }

        public long? Version { get; set; }

        public long BytesDone { get; set; }

        public long? BytesTotal { get; set; }

        public string? Stage { get; set; }

        public string? ErrorCode { get; set; }

        public string? ErrorMessage { get; set; }

        public string? Result { get; set; }

        public string CreatedBy { get; set; } = "";

        public long CreatedAt { get; set; }

        public long UpdatedAt { get; set; }

        public long? FinishedAt { get; set; }

        public Job ToJob() => new()
        {
            Id = Id,
            Kind = Kind,
            Status = Enum.Parse<JobStatus>(Status, ignoreCase: true),
            Model = Model,
            Tenant = Tenant,
            Version = (int?)Version,
            BytesDone = BytesDone,
            BytesTotal = BytesTotal,
            Stage = Stage,
            Error = ErrorCode is null ? null : new JobError(ErrorCode, ErrorMessage ?? ""),
            Result = Result is null ? null : RegistryJson.Deserialize<Dictionary<string, object?>>(Result, []),
            CreatedBy = CreatedBy,
            CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt),
            UpdatedAt = DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt),
            FinishedAt = FinishedAt is { } f ? DateTimeOffset.FromUnixTimeMilliseconds(f) : null,
        };
    }
}
