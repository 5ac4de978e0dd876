using Maas.Storage.Sql;

namespace Maas.Storage.Tenancy;

/// <summary>The schema steps of tenants, API keys, usage and the audit log (part of <see cref="Migrations.All"/>).</summary>
public static class TenancyMigrations
{
    /// <summary>The steps in order.</summary>
    public static IReadOnlyList<Migration> All { get; } =
    [
        new(100, "tenancy", TenancySqlite, TenancyPostgres),
        new(101, "tenant_lifecycle", TenantLifecycle, TenantLifecycle),
    ];

    // Suspended tenants keep their keys but may not use them; deleted tenants keep their row (their revoked keys, usage
    // and audit entries still name it), so a name is never given to a second tenant. Same text for both databases.
    private const string TenantLifecycle = """
        ALTER TABLE tenants ADD COLUMN disabled_at BIGINT NULL;
        ALTER TABLE tenants ADD COLUMN disabled_by TEXT NULL;
        ALTER TABLE tenants ADD COLUMN deleted_at BIGINT NULL;
        ALTER TABLE tenants ADD COLUMN deleted_by TEXT NULL;
        """;

    private const string TenancySqlite = """
        CREATE TABLE tenants (
            name TEXT PRIMARY KEY,
            limits TEXT NOT NULL DEFAULT '{}',
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL);
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            prefix TEXT NOT NULL,
            salt TEXT NOT NULL,
            hash TEXT NOT NULL,
            name TEXT NOT NULL,
            tenant TEXT NOT NULL REFERENCES tenants (name),
            scopes TEXT NOT NULL DEFAULT '[]',
            models TEXT NOT NULL DEFAULT '[]',
            limits TEXT NOT NULL DEFAULT '{}',
            expires_at INTEGER NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            last_used_at INTEGER NULL,
            revoked_at INTEGER NULL,
            revoked_by TEXT NULL,
            managed_by TEXT NULL);
        CREATE INDEX ix_api_keys_prefix ON api_keys (prefix);
        CREATE INDEX ix_api_keys_tenant ON api_keys (tenant);
        CREATE TABLE tenancy_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            epoch INTEGER NOT NULL,
            bootstrapped INTEGER NOT NULL);
        INSERT INTO tenancy_state (id, epoch, bootstrapped) VALUES (1, 0, 0);
        CREATE TABLE usage_records (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            tenant TEXT NOT NULL,
            key_id TEXT NULL,
            model TEXT NULL,
            version INTEGER NULL,
            protocol TEXT NOT NULL,
            operation TEXT NOT NULL,
            status INTEGER NOT NULL,
            latency_ms REAL NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            batch_items INTEGER NOT NULL,
            compute_ms REAL NOT NULL);
        CREATE INDEX ix_usage_at ON usage_records (at);
        CREATE INDEX ix_usage_tenant_at ON usage_records (tenant, at);
        CREATE INDEX ix_usage_key_at ON usage_records (key_id, at);
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            actor TEXT NOT NULL,
            actor_tenant TEXT NULL,
            action TEXT NOT NULL,
            target TEXT NULL,
            client TEXT NULL,
            request_id TEXT NULL,
            status INTEGER NOT NULL,
            result TEXT NOT NULL);
        CREATE INDEX ix_audit_at ON audit_log (at);
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        """;

    private const string TenancyPostgres = """
        CREATE TABLE tenants (
            name TEXT PRIMARY KEY,
            limits TEXT NOT NULL DEFAULT '{}',
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL);
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            prefix TEXT NOT NULL,
            salt TEXT NOT NULL,
            hash TEXT NOT NULL,
            name TEXT NOT NULL,
            tenant TEXT NOT NULL REFERENCES tenants (name),
            scopes TEXT NOT NULL DEFAULT '[]',
            models TEXT NOT NULL DEFAULT '[]',
            limits TEXT NOT NULL DEFAULT '{}',
            expires_at BIGINT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            last_used_at BIGINT NULL,
            revoked_at BIGINT NULL,
            revoked_by TEXT NULL,
            managed_by TEXT NULL);
        CREATE INDEX ix_api_keys_prefix ON api_keys (prefix);
        CREATE INDEX ix_api_keys_tenant ON api_keys (tenant);
        CREATE TABLE tenancy_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            epoch BIGINT NOT NULL,
            bootstrapped INTEGER NOT NULL);
        INSERT INTO tenancy_state (id, epoch, bootstrapped) VALUES (1, 0, 0);
        CREATE TABLE usage_records (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            at BIGINT NOT NULL,
            tenant TEXT NOT NULL,
            key_id TEXT NULL,
            model TEXT NULL,
            version BIGINT NULL,
            protocol TEXT NOT NULL,
            operation TEXT NOT NULL,
            status BIGINT NOT NULL,
            latency_ms DOUBLE PRECISION NOT NULL,
            prompt_tokens BIGINT NOT NULL,
            completion_tokens BIGINT NOT NULL,
            batch_items BIGINT NOT NULL,
            compute_ms DOUBLE PRECISION NOT NULL);
        CREATE INDEX ix_usage_at ON usage_records (at);
        CREATE INDEX ix_usage_tenant_at ON usage_records (tenant, at);
        CREATE INDEX ix_usage_key_at ON usage_records (key_id, at);
        CREATE TABLE audit_log (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            at BIGINT NOT NULL,
            actor TEXT NOT NULL,
            actor_tenant TEXT NULL,
            action TEXT NOT NULL,
            target TEXT NULL,
            client TEXT NULL,
            request_id TEXT NULL,
            status BIGINT NOT NULL,
            result TEXT NOT NULL);
        CREATE INDEX ix_audit_at ON audit_log (at);
        CREATE FUNCTION maas_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only';
        END
        $$;
        CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION maas_audit_log_append_only();
        CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION maas_audit_log_append_only();
        """;
}
