using Maas.Core.Registry;
using Maas.Storage.Artifacts;
using Maas.Storage.Sql;

namespace Maas.Storage;

/// <summary>Builds the configured database and artifact store for a data folder.</summary>
public static class StorageFactory
{
    /// <summary>The SQLite file used when no connection string is given.</summary>
    public const string DefaultSqliteFile = "registry.db";

    /// <summary>The dialect for <paramref name="options"/>.</summary>
    public static SqlDialect CreateDialect(DatabaseOptions options, string dataDir) =>
        string.Equals(options.Provider, "postgres", StringComparison.OrdinalIgnoreCase)
            ? new PostgresDialect(options.ConnectionString ?? throw new InvalidOperationException($"{DatabaseOptions.Section}:ConnectionString is required for postgres"))
            : string.IsNullOrWhiteSpace(options.ConnectionString)
                ? SqliteDialect.ForFile(Path.Combine(dataDir, DefaultSqliteFile))
                : new SqliteDialect(options.ConnectionString);

    /// <summary>The artifact store for <paramref name="options"/>.</summary>
    public static IArtifactStore CreateArtifactStore(ArtifactStoreOptions options, string dataDir) =>
        string.Equals(options.Store, "s3", StringComparison.OrdinalIgnoreCase)
            ? new S3ArtifactStore(options.S3, options.CachePath ?? Path.Combine(dataDir, "cache", "artifacts"))
            : new FilesystemArtifactStore(options.Path ?? Path.Combine(dataDir, "artifacts"));
}
