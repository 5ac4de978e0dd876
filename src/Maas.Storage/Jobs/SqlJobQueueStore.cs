using System.Data;
using System.Data.Common;
using Dapper;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Storage.Sql;

namespace Maas.Storage.Jobs;

/// <summary>
/// Queued jobs on the registry's database: claims and leases are single conditional UPDATEs, so workers on several
/// machines never run one job twice at once; a limited enqueue counts and inserts under its tenant's lock, so servers
/// on one database never pass a tenant's limit together.
/// </summary>
public sealed class SqlJobQueueStore : IJobQueueStore
{
    private const string Columns = """
        id, kind, tenant, status, spec, progress, result, error_code, error_message, cancel_requested, finishing, attempts, worker, lease_expires_at,
        checkpoint, checkpoint_key, created_by, created_at, started_at, updated_at, finished_at
        """;

    private const string Claimable = "(status = 'queued' OR (status = 'running' AND lease_expires_at < @Now))";

    static SqlJobQueueStore()
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true;
    }

    /// <summary>Creates the store over a dialect owned by someone else (the registry store's).</summary>
    public SqlJobQueueStore(SqlDialect dialect)
    {
        Dialect = dialect;
    }

    /// <summary>The database dialect.</summary>
    public SqlDialect Dialect { get; }

    /// <inheritdoc />
    public async Task EnqueueAsync(QueuedJob job, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // The owner's row locked, as for models: a tenant deleted at the same moment counts this job or is seen deleted.
        await Tenancy.TenantRows.RequireOwnerAsync(Dialect, connection, transaction, job.Tenant, cancellationToken).ConfigureAwait(false);
        await InsertJobAsync(connection, job, transaction, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task EnqueueAsync(QueuedJob job, string firstEventType, string firstEventData, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await Tenancy.TenantRows.RequireOwnerAsync(Dialect, connection, transaction, job.Tenant, cancellationToken).ConfigureAwait(false);
        await InsertJobAsync(connection, job, transaction, cancellationToken).ConfigureAwait(false);
        await InsertFirstEventAsync(connection, job, firstEventType, firstEventData, transaction, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<LimitedEnqueue> TryEnqueueAsync(QueuedJob job, string firstEventType, string firstEventData, UnfinishedJobLimit limit, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        // Read committed, whatever the database's default: each statement reads what was committed when it began, so the
        // count below, made once the lock is ours, sees every job a submission that held the lock before stored. (A
        // snapshot taken when the transaction began, as repeatable read takes it, could miss them.) SQLite makes this
        // its IMMEDIATE transaction, which holds the database's one write lock from the start.
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
        await Dialect.LockTenantJobsAsync(connection, transaction, job.Tenant, cancellationToken).ConfigureAwait(false);
        await Tenancy.TenantRows.RequireOwnerAsync(Dialect, connection, transaction, job.Tenant, cancellationToken).ConfigureAwait(false);
        var unfinished = await CountUnfinishedAsync(connection, transaction, job.Tenant, limit.Kinds, cancellationToken).ConfigureAwait(false);
        if (unfinished >= limit.Limit)
        {
            return new LimitedEnqueue(false, unfinished);
        }

        await InsertJobAsync(connection, job, transaction, cancellationToken).ConfigureAwait(false);
        await InsertFirstEventAsync(connection, job, firstEventType, firstEventData, transaction, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new LimitedEnqueue(true, unfinished);
    }

    private static Task InsertFirstEventAsync(DbConnection connection, QueuedJob job, string type, string data, DbTransaction transaction, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(Command(
            "INSERT INTO queued_job_events (job_id, seq, at, type, data) VALUES (@Id, 1, @Now, @Type, @Data)",
            new { job.Id, Now = job.CreatedAt.ToUnixTimeMilliseconds(), Type = type, Data = data },
            transaction,
            cancellationToken));

    private static Task InsertJobAsync(DbConnection connection, QueuedJob job, DbTransaction? transaction, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(Command(
            """
            INSERT INTO queued_jobs (id, kind, tenant, status, spec, progress, cancel_requested, attempts, created_by, created_at, updated_at)
            VALUES (@Id, @Kind, @Tenant, 'queued', @Spec, @Progress, 0, 0, @CreatedBy, @Now, @Now)
            """,
            new { job.Id, job.Kind, job.Tenant, job.Spec, Progress = RegistryJson.Serialize(job.Progress), job.CreatedBy, Now = job.CreatedAt.ToUnixTimeMilliseconds() },
            transaction,
            cancellationToken));

    /// <inheritdoc />
    public async Task<QueuedJob?> GetAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return (await connection.QuerySingleOrDefaultAsync<Row>(Command($"SELECT {Columns} FROM queued_jobs WHERE id = @Id", new { Id = id }, null, cancellationToken))
            .ConfigureAwait(false))?.ToJob();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<QueuedJob>> ListAsync(string kind, string? tenant, int limit, int offset, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<Row>(Command(
            $"SELECT {Columns} FROM queued_jobs WHERE kind = @Kind {(tenant is null ? "" : "AND tenant = @Tenant")} ORDER BY created_at DESC, id LIMIT @Limit OFFSET @Offset",
            new { Kind = kind, Tenant = tenant, Limit = (long)limit, Offset = (long)offset },
            null,
            cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToJob()).ToArray();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<QueuedJob>> ListUnfinishedAsync(IReadOnlyList<string> kinds, int limit, CancellationToken cancellationToken)
    {
        if (kinds.Count == 0)
        {
            return [];
        }

        var parameters = new DynamicParameters(new { Limit = (long)limit });
        var names = KindParameters(parameters, kinds);
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<Row>(Command(
            $"SELECT {Columns} FROM queued_jobs WHERE status IN ('queued', 'running') AND kind IN ({names}) ORDER BY created_at, id LIMIT @Limit",
            parameters,
            null,
            cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToJob()).ToArray();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<QueuedJob>> ListBeforeAsync(string kind, string? tenant, JobPosition? before, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var (beforeAt, beforeId) = JobPageSql.Parameters(before);
        var rows = await connection.QueryAsync<Row>(Command(
            $"""
            SELECT {Columns} FROM queued_jobs WHERE kind = @Kind {(tenant is null ? "" : "AND tenant = @Tenant")} {(before is null ? "" : $"AND {JobPageSql.After(Dialect)}")}
            {JobPageSql.Order(Dialect)} LIMIT @Limit
            """,
            new { Kind = kind, Tenant = tenant, BeforeAt = beforeAt, BeforeId = beforeId, Limit = (long)limit },
            null,
            cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToJob()).ToArray();
    }

    /// <inheritdoc />
    public async Task<int> CountUnfinishedAsync(string tenant, IReadOnlyList<string> kinds, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await CountUnfinishedAsync(connection, null, tenant, kinds, cancellationToken).ConfigureAwait(false);
    }

    // Kinds spelled out as parameters @Kind0, @Kind1, ...: Dapper sends a list to PostgreSQL as one array, which IN
    // cannot take. Returns the list for IN (...).
    private static string KindParameters(DynamicParameters parameters, IReadOnlyList<string> kinds)
    {
        for (var i = 0; i < kinds.Count; i++)
        {
            parameters.Add($"Kind{i}", kinds[i]);
        }

        return string.Join(", ", Enumerable.Range(0, kinds.Count).Select(i => $"@Kind{i}"));
    }

    private static async Task<int> CountUnfinishedAsync(DbConnection connection, DbTransaction? transaction, string tenant, IReadOnlyList<string> kinds,
        CancellationToken cancellationToken)
    {
        if (kinds.Count == 0)
        {
            return 0;
        }

        var parameters = new DynamicParameters(new { Tenant = tenant });
        var names = KindParameters(parameters, kinds);
        var count = await connection.ExecuteScalarAsync<long>(Command(
            $"SELECT COUNT(*) FROM queued_jobs WHERE tenant = @Tenant AND status IN ('queued', 'running') AND kind IN ({names})",
            parameters,
            transaction,
            cancellationToken)).ConfigureAwait(false);
        return (int)count;
    }

    /// <inheritdoc />
    public async Task<QueuedJob?> ClaimAsync(IReadOnlyList<string> kinds, string worker, DateTimeOffset leaseUntil, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var parameters = new DynamicParameters(new { Worker = worker, Lease = leaseUntil.ToUnixTimeMilliseconds(), Now = now.ToUnixTimeMilliseconds() });
        var names = KindParameters(parameters, kinds);
        if (kinds.Count == 0)
        {
            return null;
        }

        // A job whose worker died after a cancel request ends cancelled rather than running again.
        await connection.ExecuteAsync(Command(
            """
            UPDATE queued_jobs SET status = 'cancelled', error_code = 'cancelled', error_message = 'the job was cancelled', lease_expires_at = NULL, updated_at = @Now,
            finished_at = @Now
            WHERE status = 'running' AND cancel_requested = 1 AND lease_expires_at < @Now
            """,
            parameters,
            null,
            cancellationToken)).ConfigureAwait(false);

        // The inner SELECT picks a candidate; the outer WHERE re-checks it under the row lock, so only one worker wins.
        var id = await connection.ExecuteScalarAsync<string?>(Command(
            $"""
            UPDATE queued_jobs SET status = 'running', worker = @Worker, lease_expires_at = @Lease, attempts = attempts + 1,
                started_at = COALESCE(started_at, @Now), updated_at = @Now
            WHERE id = (SELECT id FROM queued_jobs WHERE kind IN ({names}) AND {Claimable} ORDER BY created_at, id LIMIT 1) AND {Claimable}
            RETURNING id
            """,
            parameters,
            null,
            cancellationToken)).ConfigureAwait(false);
        return id is null ? null : await GetAsync(id, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<LeaseState> RenewAsync(string id, string worker, DateTimeOffset leaseUntil, JobProgress? progress, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var cancel = await connection.ExecuteScalarAsync<long?>(Command(
            $"""
            UPDATE queued_jobs SET lease_expires_at = @Lease, updated_at = @Now{(progress is null ? "" : ", progress = @Progress")}
            WHERE id = @Id AND worker = @Worker AND status = 'running'
            RETURNING cancel_requested
            """,
            new
            {
                Id = id,
                Worker = worker,
                Lease = leaseUntil.ToUnixTimeMilliseconds(),
                Now = now.ToUnixTimeMilliseconds(),
                Progress = progress is null ? null : RegistryJson.Serialize(progress),
            },
            null,
            cancellationToken)).ConfigureAwait(false);
        return cancel switch
        {
            null => LeaseState.Lost,
            0 => LeaseState.Held,
            _ => LeaseState.CancelRequested,
        };
    }

    /// <inheritdoc />
    public async Task<bool> IsArtifactReferencedAsync(string key, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteScalarAsync<long>(Command(SqlRegistryStore.ArtifactReferenceCountSql, new { Key = key }, null, cancellationToken)).ConfigureAwait(false) > 0;
    }

    /// <inheritdoc />
    public async Task<bool> CompleteAsync(string id, string worker, JobStatus status, string? result, JobError? error, JobProgress? progress, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteAsync(Command(
            $"""
            UPDATE queued_jobs SET status = @Status, result = @Result, error_code = @ErrorCode, error_message = @ErrorMessage, lease_expires_at = NULL,
                updated_at = @Now, finished_at = @Now, checkpoint_key = NULL{(progress is null ? "" : ", progress = @Progress")}
            WHERE id = @Id AND worker = @Worker AND status = 'running'
            """,
            new
            {
                Id = id,
                Worker = worker,
                Status = status.ToString().ToLowerInvariant(),
                Result = result,
                ErrorCode = error?.Code,
                ErrorMessage = error?.Message,
                Now = now.ToUnixTimeMilliseconds(),
                Progress = progress is null ? null : RegistryJson.Serialize(progress),
            },
            null,
            cancellationToken)).ConfigureAwait(false) == 1;
    }

    /// <inheritdoc />
    public async Task<LeaseState> BeginFinishingAsync(string id, string worker, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        // Re-checked under the row lock, as the cancel's own UPDATE is: of this and a cancel, the first to change the row wins.
        var changed = await connection.ExecuteAsync(Command(
            "UPDATE queued_jobs SET finishing = 1, updated_at = @Now WHERE id = @Id AND worker = @Worker AND status = 'running' AND cancel_requested = 0",
            new { Id = id, Worker = worker, Now = now.ToUnixTimeMilliseconds() },
            null,
            cancellationToken)).ConfigureAwait(false);
        if (changed == 1)
        {
            return LeaseState.Held;
        }

        // A cancel asked for is never withdrawn, so what this read says about it stays true.
        var job = await GetAsync(id, cancellationToken).ConfigureAwait(false);
        return job is { Status: JobStatus.Running, CancelRequested: true } && job.Worker == worker ? LeaseState.CancelRequested : LeaseState.Lost;
    }

    /// <inheritdoc />
    public async Task<CancelOutcome?> RequestCancelAsync(string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var parameters = new { Id = id, Now = now.ToUnixTimeMilliseconds() };
        // Each UPDATE re-checks its row under the row lock: of two requests at once, one changes it and the other nothing.
        var queued = await connection.ExecuteAsync(Command(
            """
            UPDATE queued_jobs SET status = 'cancelled', cancel_requested = 1, error_code = 'cancelled', error_message = 'the job was cancelled', updated_at = @Now,
            finished_at = @Now
            WHERE id = @Id AND status = 'queued'
            """,
            parameters,
            null,
            cancellationToken)).ConfigureAwait(false);
        var running = await connection.ExecuteAsync(Command(
            "UPDATE queued_jobs SET cancel_requested = 1, updated_at = @Now WHERE id = @Id AND status = 'running' AND cancel_requested = 0 AND finishing = 0",
            parameters,
            null,
            cancellationToken)).ConfigureAwait(false);
        if (running > 0)
        {
            CancelRequested?.Invoke(id);
        }

        return await GetAsync(id, cancellationToken).ConfigureAwait(false) is { } job ? new CancelOutcome(job, queued + running > 0) : null;
    }

    /// <inheritdoc />
    public event Action<string>? CancelRequested;

    /// <inheritdoc />
    public async Task<bool> SaveCheckpointAsync(string id, string worker, JobCheckpoint checkpoint, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteAsync(Command(
            "UPDATE queued_jobs SET checkpoint = @Checkpoint, checkpoint_key = @Key WHERE id = @Id AND worker = @Worker AND status = 'running'",
            new { Id = id, Worker = worker, Checkpoint = RegistryJson.Serialize(checkpoint), Key = checkpoint.ArtifactKey },
            null,
            cancellationToken)).ConfigureAwait(false) == 1;
    }

    /// <inheritdoc />
    public async Task<long> AddEventAsync(string id, string type, string data, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await connection.ExecuteScalarAsync<long>(Command(
                    """
                    INSERT INTO queued_job_events (job_id, seq, at, type, data)
                    SELECT @Id, COALESCE(MAX(seq), 0) + 1, @Now, @Type, @Data FROM queued_job_events WHERE job_id = @Id
                    RETURNING seq
                    """,
                    new { Id = id, Type = type, Data = data, Now = now.ToUnixTimeMilliseconds() },
                    null,
                    cancellationToken)).ConfigureAwait(false);
            }
            catch (DbException e) when (Dialect.IsUniqueViolation(e) && attempt < 5)
            {
                // Two writers took the same number (a heartbeat and the job); the next round gets the next one.
            }
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<JobEvent>> ListEventsAsync(string id, long after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<EventRow>(Command(
            "SELECT seq, at, type, data FROM queued_job_events WHERE job_id = @Id AND seq > @After ORDER BY seq LIMIT @Limit",
            new { Id = id, After = after, Limit = (long)limit },
            null,
            cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => new JobEvent(r.Seq, DateTimeOffset.FromUnixTimeMilliseconds(r.At), r.Type, r.Data)).ToArray();
    }

    private static CommandDefinition Command(string sql, object? parameters, DbTransaction? transaction, CancellationToken cancellationToken) =>
        new(sql, parameters, transaction, cancellationToken: cancellationToken);

    private sealed class EventRow
    {
        public long Seq { get; set; }

        public long At { get; set; }

        public string Type { get; set; } = "";

        public string Data { get; set; } = "{}";
    }

    private sealed class Row
    {
        public string Id { get; set; } = "";

        public string Kind { get; set; } = "";

        public string Tenant { get; set; } = "";

        public string Status { get; set; } = "";

        public string Spec { get; set; } = "{}";

        public string Progress { get; set; } = "{}";

        public string? Result { get; set; }

        public string? ErrorCode { get; set; }

        public string? ErrorMessage { get; set; }

        public long CancelRequested { get; set; }

        public long Finishing { get; set; }

        public long Attempts { get; set; }

        public string? Worker { get; set; }

        public long? LeaseExpiresAt { get; set; }

        public string? Checkpoint { get; set; }

        public string? CheckpointKey { get; set; }

        public string CreatedBy { get; set; } = "";

        public long CreatedAt { get; set; }

        public long? StartedAt { get; set; }

        public long UpdatedAt { get; set; }

        public long? FinishedAt { get; set; }

        public QueuedJob ToJob() => new()
        {
            Id = Id,
            Kind = Kind,
            Tenant = Tenant,
            Status = Enum.Parse<JobStatus>(Status, ignoreCase: true),
            Spec = Spec,
            Progress = RegistryJson.Deserialize(Progress, new JobProgress()),
            Result = Result,
            Error = ErrorCode is null ? null : new JobError(ErrorCode, ErrorMessage ?? ""),
            CancelRequested = CancelRequested != 0,
            Finishing = Finishing != 0,
            Attempts = (int)Attempts,
            Worker = Worker,
            LeaseExpiresAt = LeaseExpiresAt is { } lease ? DateTimeOffset.FromUnixTimeMilliseconds(lease) : null,
            Checkpoint = Checkpoint is null ? null : RegistryJson.Deserialize<JobCheckpoint?>(Checkpoint, null),
            CreatedBy = CreatedBy,
            CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt),
            StartedAt = StartedAt is { } s ? DateTimeOffset.FromUnixTimeMilliseconds(s) : null,
            UpdatedAt = DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt),
            FinishedAt = FinishedAt is { } f ? DateTimeOffset.FromUnixTimeMilliseconds(f) : null,
        };
    }
}
