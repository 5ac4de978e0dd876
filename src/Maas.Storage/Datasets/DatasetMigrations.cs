using Maas.Storage.Sql;

namespace Maas.Storage.Datasets;

/// <summary>The schema steps of datasets (part of <see cref="Migrations.All"/>).</summary>
public static class DatasetMigrations
{
    /// <summary>The steps in order.</summary>
    public static IReadOnlyList<Migration> All { get; } =
    [
        new(200, "datasets", Sqlite, Postgres),
        new(201, "dataset_upload_sessions", UploadSessions, UploadSessions),
    ];

    // The bytes live in the staging area; a row outlives a restart so the upload can go on where it stopped.
    private const string UploadSessions = """
        CREATE TABLE dataset_upload_sessions (
            id TEXT PRIMARY KEY,
            dataset TEXT NOT NULL,
            owner TEXT NOT NULL,
            file_name TEXT NOT NULL,
            total_bytes BIGINT NULL,
            expected_sha256 TEXT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL);
        CREATE INDEX ix_dataset_upload_sessions_owner ON dataset_upload_sessions (owner);
        """;

    // dataset_uses follows model versions: deleting the model version drops the use, so the dataset is free again.
    private const string Sqlite = """
        CREATE TABLE datasets (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            visibility TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            next_version INTEGER NOT NULL DEFAULT 1,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL);
        CREATE INDEX ix_datasets_owner ON datasets (owner);
        CREATE TABLE dataset_versions (
            dataset TEXT NOT NULL REFERENCES datasets (name) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            format TEXT NOT NULL,
            gzip INTEGER NOT NULL,
            file_name TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            row_count INTEGER NOT NULL,
            column_schema TEXT NOT NULL,
            statistics TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (dataset, version));
        CREATE INDEX ix_dataset_versions_sha256 ON dataset_versions (sha256);
        CREATE TABLE dataset_uses (
            dataset TEXT NOT NULL,
            dataset_version INTEGER NOT NULL,
            model_id INTEGER NOT NULL,
            model_version INTEGER NOT NULL,
            PRIMARY KEY (dataset, dataset_version, model_id, model_version),
            FOREIGN KEY (model_id, model_version) REFERENCES model_versions (model_id, version) ON DELETE CASCADE);
        CREATE INDEX ix_dataset_uses_model ON dataset_uses (model_id, model_version);
        """;

    private const string Postgres = """
        CREATE TABLE datasets (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            visibility TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            next_version BIGINT NOT NULL DEFAULT 1,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL);
        CREATE INDEX ix_datasets_owner ON datasets (owner);
        CREATE TABLE dataset_versions (
            dataset TEXT NOT NULL REFERENCES datasets (name) ON DELETE CASCADE,
            version BIGINT NOT NULL,
            format TEXT NOT NULL,
            gzip BIGINT NOT NULL,
            file_name TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size_bytes BIGINT NOT NULL,
            row_count BIGINT NOT NULL,
            column_schema TEXT NOT NULL,
            statistics TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (dataset, version));
        CREATE INDEX ix_dataset_versions_sha256 ON dataset_versions (sha256);
        CREATE TABLE dataset_uses (
            dataset TEXT NOT NULL,
            dataset_version BIGINT NOT NULL,
            model_id BIGINT NOT NULL,
            model_version BIGINT NOT NULL,
            PRIMARY KEY (dataset, dataset_version, model_id, model_version),
            FOREIGN KEY (model_id, model_version) REFERENCES model_versions (model_id, version) ON DELETE CASCADE);
        CREATE INDEX ix_dataset_uses_model ON dataset_uses (model_id, model_version);
        """;
}
