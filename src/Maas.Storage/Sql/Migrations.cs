using Maas.Storage.Tenancy;

namespace Maas.Storage.Sql;

/// <summary>Every schema step of the MaaS database. Append only: a released step never changes.</summary>
/// <remarks>Times are Unix milliseconds (BIGINT) and documents are JSON text, so both databases share one set of queries.</remarks>
public static class Migrations
{
    /// <summary>The steps in order.</summary>
    public static IReadOnlyList<Migration> All { get; } =
    [
        new(1, "registry", RegistrySqlite, RegistryPostgres),
        new(2, "jobs_tenant", JobsTenant, JobsTenant),
        new(3, "model_names_per_tenant", ModelNamesPerTenantSqlite, ModelNamesPerTenantPostgres),
        .. TenancyMigrations.All,
        .. Datasets.DatasetMigrations.All,
        .. Jobs.JobQueueMigrations.All,
        .. FineTuning.FineTuningFileMigrations.All,
        .. Deployments.DeploymentMigrations.All,
        new(800, "storage_reservations", StorageReservations, StorageReservations),
        new(900, "instances", Instances, Instances),
        new(950, "import_jobs_model_keys", ImportJobsModelKeys, ImportJobsModelKeys),
    ];

    // Imports recorded their model's short name instead of its key until the importer was fixed, so a job of acme's
    // "faces" read as the default tenant's model (shown to acme as default/faces) and a key pattern acme/* hid it. An
    // import's job belongs to its model's owner (the tenant column), so the key is owner/name outside "default". Only
    // rows without a slash change: a second run, or a row written by a fixed importer, is left as it is.
    private const string ImportJobsModelKeys = """
        UPDATE jobs SET model = tenant || '/' || model
        WHERE kind = 'import' AND tenant IS NOT NULL AND tenant <> 'default' AND model IS NOT NULL AND model NOT LIKE '%/%';
        """;

    // The processes sharing the database (servers and workers), each renewing its heartbeat (InstanceHeartbeat), and
    // the work each owns: its uploading versions and its imports. Recovery cleans only the work of instances whose
    // heartbeat lapsed, or of none (rows from before this step).
    private const string Instances = """
        CREATE TABLE maas_instances (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            host TEXT NOT NULL,
            started_at BIGINT NOT NULL,
            heartbeat_at BIGINT NOT NULL);
        ALTER TABLE model_versions ADD COLUMN instance_id TEXT NULL;
        ALTER TABLE jobs ADD COLUMN instance_id TEXT NULL;
        """;

    // Bytes uploads in progress hold of their tenant's storage quota (ModelRegistry.ReserveStorageAsync): a row per
    // upload request or resumable session, counted with the stored bytes until it is dropped or expires.
    private const string StorageReservations = """
        CREATE TABLE storage_reservations (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            bytes BIGINT NOT NULL,
            expires_at BIGINT NOT NULL);
        CREATE INDEX ix_storage_reservations_owner ON storage_reservations (owner, expires_at);
        """;

    // Jobs belong to their model's owner; jobs of models deleted since then stay visible to admins only.
    private const string JobsTenant = """
        ALTER TABLE jobs ADD COLUMN tenant TEXT NULL;
        UPDATE jobs SET tenant = (SELECT models.owner FROM models WHERE models.name = jobs.model);
        CREATE INDEX ix_jobs_tenant_created ON jobs (tenant, created_at);
        """;

    // Model names become unique per owner tenant ("acme/faces" and "beta/faces"), not across the server. Ids,
    // versions, aliases, tags, sessions and dataset uses keep pointing at the same rows; lineage and jobs, which
    // named a model by its (then unique) name, now name it by its key (ModelKeys: owner/name outside "default"). SQLite cannot drop a column's
    // UNIQUE, so the table is rebuilt (foreign keys are off during migrations there, and checked before the commit).
    private const string ModelNamesPerTenantSqlite = """
        UPDATE model_versions SET derived_from_model = (
            SELECT m.owner || '/' || m.name FROM models m WHERE m.name = model_versions.derived_from_model AND m.owner <> 'default')
        WHERE EXISTS (SELECT 1 FROM models m WHERE m.name = model_versions.derived_from_model AND m.owner <> 'default');
        UPDATE jobs SET model = (SELECT m.owner || '/' || m.name FROM models m WHERE m.name = jobs.model AND m.owner <> 'default')
        WHERE EXISTS (SELECT 1 FROM models m WHERE m.name = jobs.model AND m.owner <> 'default');
        CREATE TABLE models_per_tenant (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]',
            task TEXT NULL,
            visibility TEXT NOT NULL,
            owner TEXT NOT NULL,
            serving_config TEXT NOT NULL DEFAULT '{}',
            next_version INTEGER NOT NULL DEFAULT 1,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            UNIQUE (owner, name));
        INSERT INTO models_per_tenant (id, name, description, tags, task, visibility, owner, serving_config, next_version, created_by, created_at, updated_at)
            SELECT id, name, description, tags, task, visibility, owner, serving_config, next_version, created_by, created_at, updated_at FROM models;
        DROP TABLE models;
        ALTER TABLE models_per_tenant RENAME TO models;
        CREATE INDEX ix_models_owner ON models (owner);
        CREATE INDEX ix_models_task ON models (task);
        CREATE INDEX ix_models_name ON models (name);
        """;

    private const string ModelNamesPerTenantPostgres = """
        UPDATE model_versions SET derived_from_model = (
            SELECT m.owner || '/' || m.name FROM models m WHERE m.name = model_versions.derived_from_model AND m.owner <> 'default')
        WHERE EXISTS (SELECT 1 FROM models m WHERE m.name = model_versions.derived_from_model AND m.owner <> 'default');
        UPDATE jobs SET model = (SELECT m.owner || '/' || m.name FROM models m WHERE m.name = jobs.model AND m.owner <> 'default')
        WHERE EXISTS (SELECT 1 FROM models m WHERE m.name = jobs.model AND m.owner <> 'default');
        ALTER TABLE models DROP CONSTRAINT models_name_key;
        ALTER TABLE models ADD CONSTRAINT ux_models_owner_name UNIQUE (owner, name);
        CREATE INDEX ix_models_name ON models (name);
        """;

    private const string RegistrySqlite = """
        CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]',
            task TEXT NULL,
            visibility TEXT NOT NULL,
            owner TEXT NOT NULL,
            serving_config TEXT NOT NULL DEFAULT '{}',
            next_version INTEGER NOT NULL DEFAULT 1,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL);
        CREATE INDEX ix_models_owner ON models (owner);
        CREATE INDEX ix_models_task ON models (task);
        CREATE TABLE model_tags (
            model_id INTEGER NOT NULL REFERENCES models (id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (model_id, tag));
        CREATE INDEX ix_model_tags_tag ON model_tags (tag);
        CREATE TABLE model_versions (
            model_id INTEGER NOT NULL REFERENCES models (id) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            status TEXT NOT NULL,
            format TEXT NULL,
            sha256 TEXT NULL,
            size_bytes INTEGER NOT NULL DEFAULT 0,
            file_name TEXT NULL,
            artifact_key TEXT NULL,
            files TEXT NOT NULL DEFAULT '[]',
            signature TEXT NOT NULL DEFAULT '{}',
            metadata TEXT NOT NULL DEFAULT '{}',
            derived_from_model TEXT NULL,
            derived_from_version INTEGER NULL,
            derivation TEXT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            ready_at INTEGER NULL,
            PRIMARY KEY (model_id, version));
        CREATE INDEX ix_model_versions_artifact ON model_versions (artifact_key);
        CREATE INDEX ix_model_versions_status ON model_versions (status);
        CREATE TABLE model_aliases (
            model_id INTEGER NOT NULL REFERENCES models (id) ON DELETE CASCADE,
            alias TEXT NOT NULL,
            version INTEGER NOT NULL,
            revision INTEGER NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (model_id, alias),
            FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version));
        CREATE INDEX ix_model_aliases_version ON model_aliases (model_id, version);
        CREATE TABLE upload_sessions (
            id TEXT PRIMARY KEY,
            model_id INTEGER NOT NULL REFERENCES models (id) ON DELETE CASCADE,
            file_name TEXT NOT NULL,
            total_bytes INTEGER NULL,
            expected_sha256 TEXT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL);
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            model TEXT NULL,
            version INTEGER NULL,
            bytes_done INTEGER NOT NULL DEFAULT 0,
            bytes_total INTEGER NULL,
            stage TEXT NULL,
            error_code TEXT NULL,
            error_message TEXT NULL,
            result TEXT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            finished_at INTEGER NULL);
        CREATE INDEX ix_jobs_created ON jobs (created_at);
        CREATE INDEX ix_jobs_status ON jobs (status);
        """;

    private const string RegistryPostgres = """
        CREATE TABLE models (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]',
            task TEXT NULL,
            visibility TEXT NOT NULL,
            owner TEXT NOT NULL,
            serving_config TEXT NOT NULL DEFAULT '{}',
            next_version BIGINT NOT NULL DEFAULT 1,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL);
        CREATE INDEX ix_models_owner ON models (owner);
        CREATE INDEX ix_models_task ON models (task);
        CREATE TABLE model_tags (
            model_id BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (model_id, tag));
        CREATE INDEX ix_model_tags_tag ON model_tags (tag);
        CREATE TABLE model_versions (
            model_id BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
            version BIGINT NOT NULL,
            status TEXT NOT NULL,
            format TEXT NULL,
            sha256 TEXT NULL,
            size_bytes BIGINT NOT NULL DEFAULT 0,
            file_name TEXT NULL,
            artifact_key TEXT NULL,
            files TEXT NOT NULL DEFAULT '[]',
            signature TEXT NOT NULL DEFAULT '{}',
            metadata TEXT NOT NULL DEFAULT '{}',
            derived_from_model TEXT NULL,
            derived_from_version BIGINT NULL,
            derivation TEXT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            ready_at BIGINT NULL,
            PRIMARY KEY (model_id, version));
        CREATE INDEX ix_model_versions_artifact ON model_versions (artifact_key);
        CREATE INDEX ix_model_versions_status ON model_versions (status);
        CREATE TABLE model_aliases (
            model_id BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
            alias TEXT NOT NULL,
            version BIGINT NOT NULL,
            revision BIGINT NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (model_id, alias),
            FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version));
        CREATE INDEX ix_model_aliases_version ON model_aliases (model_id, version);
        CREATE TABLE upload_sessions (
            id TEXT PRIMARY KEY,
            model_id BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
            file_name TEXT NOT NULL,
            total_bytes BIGINT NULL,
            expected_sha256 TEXT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL);
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            model TEXT NULL,
            version BIGINT NULL,
            bytes_done BIGINT NOT NULL DEFAULT 0,
            bytes_total BIGINT NULL,
            stage TEXT NULL,
            error_code TEXT NULL,
            error_message TEXT NULL,
            result TEXT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            finished_at BIGINT NULL);
        CREATE INDEX ix_jobs_created ON jobs (created_at);
        CREATE INDEX ix_jobs_status ON jobs (status);
        """;
}
