using System.Data.Common;
using Dapper;
using Maas.Core.Datasets;
using Maas.Core.Registry;
using Maas.Storage.Sql;

namespace Maas.Storage.Datasets;

/// <summary>Datasets on the registry's database (SQLite or PostgreSQL, one set of queries).</summary>
public sealed class SqlDatasetStore : IDatasetStore
{
    private const string DatasetColumns = """
        d.name, d.owner, d.visibility, d.description, d.created_by, d.created_at,
        (SELECT MAX(v.version) FROM dataset_versions v WHERE v.dataset = d.name) AS latest_version
        """;

    private const string VersionColumns =
        "dataset, version, format, gzip, file_name, sha256, size_bytes, row_count, column_schema, statistics, created_by, created_at";

    private const string SessionColumns = "id, dataset AS target, owner, file_name, total_bytes, expected_sha256, created_by, created_at, expires_at";

    static SqlDatasetStore()
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true;
    }

    /// <summary>Creates the store over a dialect owned by someone else (the registry store's).</summary>
    public SqlDatasetStore(SqlDialect dialect)
    {
        Dialect = dialect;
    }

    /// <summary>The database dialect.</summary>
    public SqlDialect Dialect { get; }

    /// <inheritdoc />
    public async Task<Dataset> CreateDatasetAsync(Dataset dataset, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        // In one transaction with the owner's row locked, as models are: a tenant deleted at the same moment either
        // counts this dataset (and refuses) or is seen deleted here.
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await Tenancy.TenantRows.RequireOwnerAsync(Dialect, connection, transaction, dataset.Owner, cancellationToken).ConfigureAwait(false);
        try
        {
            await connection.ExecuteAsync(Command(
                """
                INSERT INTO datasets (name, owner, visibility, description, next_version, created_by, created_at)
                VALUES (@Name, @Owner, @Visibility, @Description, 1, @CreatedBy, @CreatedAt)
                """,
                new
                {
                    dataset.Name,
                    dataset.Owner,
                    Visibility = dataset.Visibility.ToString().ToLowerInvariant(),
                    dataset.Description,
                    dataset.CreatedBy,
                    CreatedAt = dataset.CreatedAt.ToUnixTimeMilliseconds(),
                },
                transaction,
                cancellationToken)).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbException e) when (Dialect.IsUniqueViolation(e))
        {
            throw RegistryException.Conflict("dataset_exists", $"a dataset named '{dataset.Name}' already exists");
        }

        return dataset;
    }

    /// <inheritdoc />
    public async Task<Dataset?> GetDatasetAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<DatasetRow>(Command(
            $"SELECT {DatasetColumns} FROM datasets d WHERE d.name = @Name", new { Name = name }, null, cancellationToken)).ConfigureAwait(false);
        return row?.ToDataset();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<Dataset>> ListDatasetsAsync(string? visibleTo, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<DatasetRow>(Command(
            $"SELECT {DatasetColumns} FROM datasets d {(visibleTo is null ? "" : "WHERE d.owner = @Tenant OR d.visibility = 'shared'")} ORDER BY d.name",
            new { Tenant = visibleTo },
            null,
            cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToDataset()).ToArray();
    }

    /// <inheritdoc />
    public async Task<DatasetVersion> AddVersionAsync(DatasetVersion version, CancellationToken cancellationToken, string? releasedReservation = null)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // The UPDATE takes the row lock first, so two uploads never get the same number.
        var number = await connection.ExecuteScalarAsync<long?>(Command(
            "UPDATE datasets SET next_version = next_version + 1 WHERE name = @Name RETURNING next_version - 1",
            new { Name = version.Dataset },
            transaction,
            cancellationToken)).ConfigureAwait(false)
            ?? throw RegistryException.NotFound("dataset_not_found", $"dataset '{version.Dataset}' does not exist");
        var numbered = version with { Version = (int)number };
        await connection.ExecuteAsync(Command(
            $"""
            INSERT INTO dataset_versions ({VersionColumns})
            VALUES (@Dataset, @Version, @Format, @Gzip, @FileName, @Sha256, @SizeBytes, @RowCount, @ColumnSchema, @Statistics, @CreatedBy, @CreatedAt)
            """,
            new
            {
                numbered.Dataset,
                Version = (long)numbered.Version,
                Format = DatasetFormats.Name(numbered.Format),
                Gzip = numbered.Gzip ? 1L : 0L,
                numbered.FileName,
                numbered.Sha256,
                numbered.SizeBytes,
                RowCount = numbered.Rows,
                ColumnSchema = RegistryJson.Serialize(numbered.Schema),
                Statistics = RegistryJson.Serialize(numbered.Statistics),
                numbered.CreatedBy,
                CreatedAt = numbered.CreatedAt.ToUnixTimeMilliseconds(),
            },
            transaction,
            cancellationToken)).ConfigureAwait(false);
        await SqlRegistryStore.ReleaseStorageAsync(connection, transaction, releasedReservation, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return numbered;
    }

    /// <inheritdoc />
    public async Task<DatasetVersion?> GetVersionAsync(string dataset, int version, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<VersionRow>(Command(
            $"SELECT {VersionColumns} FROM dataset_versions WHERE dataset = @Dataset AND version = @Version",
            new { Dataset = dataset, Version = (long)version },
            null,
            cancellationToken)).ConfigureAwait(false);
        return row?.ToVersion();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DatasetVersion>> ListVersionsAsync(string dataset, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<VersionRow>(Command(
            $"SELECT {VersionColumns} FROM dataset_versions WHERE dataset = @Dataset ORDER BY version", new { Dataset = dataset }, null, cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToVersion()).ToArray();
    }

    /// <inheritdoc />
    public async Task<string?> DeleteVersionAsync(string dataset, int version, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var key = await connection.ExecuteScalarAsync<string?>(Command(
            "DELETE FROM dataset_versions WHERE dataset = @Dataset AND version = @Version RETURNING sha256",
            new { Dataset = dataset, Version = (long)version },
            transaction,
            cancellationToken)).ConfigureAwait(false);
        await connection.ExecuteAsync(Command(
            "DELETE FROM dataset_uses WHERE dataset = @Dataset AND dataset_version = @Version", new { Dataset = dataset, Version = (long)version }, transaction,
                cancellationToken)).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return key;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>?> DeleteDatasetAsync(string dataset, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var keys = (await connection.QueryAsync<string>(Command(
            "SELECT sha256 FROM dataset_versions WHERE dataset = @Dataset", new { Dataset = dataset }, transaction, cancellationToken)).ConfigureAwait(false)).ToArray();
        await connection.ExecuteAsync(Command("DELETE FROM dataset_uses WHERE dataset = @Dataset", new { Dataset = dataset }, transaction, cancellationToken))
            .ConfigureAwait(false);
        await connection.ExecuteAsync(Command("DELETE FROM dataset_versions WHERE dataset = @Dataset", new { Dataset = dataset }, transaction, cancellationToken))
            .ConfigureAwait(false);
        var deleted = await connection.ExecuteAsync(Command("DELETE FROM datasets WHERE name = @Dataset", new { Dataset = dataset }, transaction, cancellationToken))
            .ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return deleted == 0 ? null : keys;
    }

    /// <inheritdoc />
    public async Task AddUseAsync(DatasetUse use, CancellationToken cancellationToken)
    {
        // The use names the model by its key (ModelKeys): "name", or "owner/name" outside the default tenant.
        if (!ModelKeys.TrySplit(use.Model, out var owner, out var name))
        {
            return;
        }

        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(Command(
            """
            INSERT INTO dataset_uses (dataset, dataset_version, model_id, model_version)
            SELECT @Dataset, @Version, m.id, @ModelVersion FROM models m WHERE m.owner = @Owner AND m.name = @Model
            ON CONFLICT DO NOTHING
            """,
            new { use.Dataset, Version = (long)use.Version, Owner = owner, Model = name, ModelVersion = (long)use.ModelVersion },
            null,
            cancellationToken)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DatasetUse>> ListUsesAsync(string dataset, int? version, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<UseRow>(Command(
            $"""
            SELECT u.dataset, u.dataset_version, m.name AS model, m.owner, u.model_version FROM dataset_uses u JOIN models m ON m.id = u.model_id
            WHERE u.dataset = @Dataset {(version is null ? "" : "AND u.dataset_version = @Version")} ORDER BY m.name, m.owner, u.model_version
            """,
            new { Dataset = dataset, Version = (long?)version },
            null,
            cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => new DatasetUse(r.Dataset, (int)r.DatasetVersion, ModelKeys.Of(r.Owner, r.Model), (int)r.ModelVersion)).ToArray();
    }

    /// <inheritdoc />
    public async Task<bool> IsArtifactReferencedAsync(string artifactKey, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteScalarAsync<long>(Command(
            "SELECT COUNT(*) FROM dataset_versions WHERE sha256 = @Key", new { Key = artifactKey }, null, cancellationToken)).ConfigureAwait(false) > 0;
    }

    /// <inheritdoc />
    public async Task CreateUploadSessionAsync(DatasetUploadSession session, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var parameters = UploadSessionRow.Parameters(session);
        parameters.Add("Dataset", session.Dataset);
        parameters.Add("Owner", session.Owner);
        await connection.ExecuteAsync(Command(
            $"INSERT INTO dataset_upload_sessions ({UploadSessionRow.InsertColumns}, dataset, owner) VALUES ({UploadSessionRow.InsertValues}, @Dataset, @Owner)",
            parameters,
            null,
            cancellationToken)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<DatasetUploadSession?> GetUploadSessionAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<UploadSessionRow>(Command(
            $"SELECT {SessionColumns} FROM dataset_upload_sessions WHERE id = @Id", new { Id = id }, null, cancellationToken)).ConfigureAwait(false);
        return row is null ? null : ToSession(row);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DatasetUploadSession>> ListUploadSessionsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<UploadSessionRow>(Command(
            $"SELECT {SessionColumns} FROM dataset_upload_sessions ORDER BY created_at", null, null, cancellationToken)).ConfigureAwait(false);
        return rows.Select(ToSession).ToArray();
    }

    /// <inheritdoc />
    public async Task<int> CountUploadSessionsAsync(string owner, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return (int)await connection.ExecuteScalarAsync<long>(Command(
            "SELECT COUNT(*) FROM dataset_upload_sessions WHERE owner = @Owner", new { Owner = owner }, null, cancellationToken)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task DeleteUploadSessionAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(Command("DELETE FROM dataset_upload_sessions WHERE id = @Id", new { Id = id }, null, cancellationToken)).ConfigureAwait(false);
    }

    private static DatasetUploadSession ToSession(UploadSessionRow row) =>
        row.Fill(new DatasetUploadSession { Id = row.Id, FileName = row.FileName, Dataset = row.Target, Owner = row.Owner });

    private static CommandDefinition Command(string sql, object? parameters, DbTransaction? transaction, CancellationToken cancellationToken) =>
        new(sql, parameters, transaction, cancellationToken: cancellationToken);

    private sealed class DatasetRow
    {
        public string Name { get; set; } = "";

        public string Owner { get; set; } = "";

        public string Visibility { get; set; } = "";

        public string Description { get; set; } = "";

        public string CreatedBy { get; set; } = "";

        public long CreatedAt { get; set; }

        public long? LatestVersion { get; set; }

        public Dataset ToDataset() => new()
        {
            Name = Name,
            Owner = Owner,
            Visibility = Visibility == "shared" ? ModelVisibility.Shared : ModelVisibility.Private,
            Description = Description,
            CreatedBy = CreatedBy,
            CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt),
            LatestVersion = (int?)LatestVersion,
        };
    }

    private sealed class VersionRow
    {
        public string Dataset { get; set; } = "";

        public long Version { get; set; }

        public string Format { get; set; } = "";

        public long Gzip { get; set; }

        public string FileName { get; set; } = "";

        public string Sha256 { get; set; } = "";

        public long SizeBytes { get; set; }

        public long RowCount { get; set; }

        public string ColumnSchema { get; set; } = "[]";

        public string Statistics { get; set; } = "[]";

        public string CreatedBy { get; set; } = "";

        public long CreatedAt { get; set; }

        public DatasetVersion ToVersion() => new()
        {
            Dataset = Dataset,
            Version = (int)Version,
            Format = DatasetFormats.Parse(Format),
            Gzip = Gzip != 0,
            FileName = FileName,
            Sha256 = Sha256,
            SizeBytes = SizeBytes,
            Rows = RowCount,
            Schema = RegistryJson.Deserialize<List<DatasetColumn>>(ColumnSchema, []),
            Statistics = RegistryJson.Deserialize<List<ColumnStatistics>>(Statistics, []),
            CreatedBy = CreatedBy,
            CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt),
        };
    }

    private sealed class UseRow
    {
        public string Dataset { get; set; } = "";

        public long DatasetVersion { get; set; }

        public string Model { get; set; } = "";

        public string Owner { get; set; } = "";

        public long ModelVersion { get; set; }
    }
}
