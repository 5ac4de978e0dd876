using Maas.Storage.Sql;

namespace Maas.Storage.FineTuning;

/// <summary>The schema steps of OpenAI-style uploaded files (part of <see cref="Migrations.All"/>).</summary>
public static class FineTuningFileMigrations
{
    /// <summary>The steps in order.</summary>
    public static IReadOnlyList<Migration> All { get; } =
    [
        new(616, "openai_files", Schema, Schema),
    ];

    // The same text for both databases: TEXT and BIGINT mean the same in SQLite and PostgreSQL.
    private const string Schema = """
        CREATE TABLE openai_files (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            filename TEXT NOT NULL,
            purpose TEXT NOT NULL,
            bytes BIGINT NOT NULL,
            sha256 TEXT NOT NULL,
            examples BIGINT NOT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL);
        CREATE INDEX ix_openai_files_tenant ON openai_files (tenant, created_at);
        CREATE INDEX ix_openai_files_sha256 ON openai_files (sha256);
        """;
}
