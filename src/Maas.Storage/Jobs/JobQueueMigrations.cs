using Maas.Storage.Sql;

namespace Maas.Storage.Jobs;

/// <summary>The schema steps of queued (worker-run) jobs and their events (part of <see cref="Migrations.All"/>).</summary>
public static class JobQueueMigrations
{
    /// <summary>The steps in order.</summary>
    public static IReadOnlyList<Migration> All { get; } =
    [
        new(300, "job_queue", Sqlite, Postgres),
        new(301, "job_queue_finishing", FinishingSqlite, FinishingPostgres),
    ];

    // Set once a job passed its point of no return (it is registering its result): cancels are refused from then on,
    // also for a worker that takes the job over, since the first one may have registered it already.
    private const string FinishingSqlite = "ALTER TABLE queued_jobs ADD COLUMN finishing INTEGER NOT NULL DEFAULT 0;";

    private const string FinishingPostgres = "ALTER TABLE queued_jobs ADD COLUMN finishing BIGINT NOT NULL DEFAULT 0;";

    private const string Sqlite = """
        CREATE TABLE queued_jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            tenant TEXT NOT NULL,
            status TEXT NOT NULL,
            spec TEXT NOT NULL,
            progress TEXT NOT NULL DEFAULT '{}',
            result TEXT NULL,
            error_code TEXT NULL,
            error_message TEXT NULL,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            worker TEXT NULL,
            lease_expires_at INTEGER NULL,
            checkpoint TEXT NULL,
            checkpoint_key TEXT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            started_at INTEGER NULL,
            updated_at INTEGER NOT NULL,
            finished_at INTEGER NULL);
        CREATE INDEX ix_queued_jobs_claim ON queued_jobs (status, kind, created_at);
        CREATE INDEX ix_queued_jobs_tenant ON queued_jobs (kind, tenant, created_at);
        CREATE TABLE queued_job_events (
            job_id TEXT NOT NULL REFERENCES queued_jobs (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            at INTEGER NOT NULL,
            type TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (job_id, seq));
        """;

    private const string Postgres = """
        CREATE TABLE queued_jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            tenant TEXT NOT NULL,
            status TEXT NOT NULL,
            spec TEXT NOT NULL,
            progress TEXT NOT NULL DEFAULT '{}',
            result TEXT NULL,
            error_code TEXT NULL,
            error_message TEXT NULL,
            cancel_requested BIGINT NOT NULL DEFAULT 0,
            attempts BIGINT NOT NULL DEFAULT 0,
            worker TEXT NULL,
            lease_expires_at BIGINT NULL,
            checkpoint TEXT NULL,
            checkpoint_key TEXT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            started_at BIGINT NULL,
            updated_at BIGINT NOT NULL,
            finished_at BIGINT NULL);
        CREATE INDEX ix_queued_jobs_claim ON queued_jobs (status, kind, created_at);
        CREATE INDEX ix_queued_jobs_tenant ON queued_jobs (kind, tenant, created_at);
        CREATE TABLE queued_job_events (
            job_id TEXT NOT NULL REFERENCES queued_jobs (id) ON DELETE CASCADE,
            seq BIGINT NOT NULL,
            at BIGINT NOT NULL,
            type TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (job_id, seq));
        """;
}
