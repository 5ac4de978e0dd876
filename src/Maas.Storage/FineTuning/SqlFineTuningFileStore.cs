using Dapper;
using Maas.Core.FineTuning;
using Maas.Storage.Sql;

namespace Maas.Storage.FineTuning;

/// <summary>Uploaded files' metadata on the registry's database (SQLite or PostgreSQL, one set of queries).</summary>
public sealed class SqlFineTuningFileStore(SqlDialect dialect) : IFineTuningFileStore
{
    private const string Columns = "id, tenant, filename, purpose, bytes, sha256, examples, created_by, created_at";

    static SqlFineTuningFileStore()
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true;
    }

    /// <inheritdoc />
    public async Task AddAsync(FineTuningFile file, CancellationToken cancellationToken, string? releasedReservation = null)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // The owner's row locked, as for models: a tenant deleted at the same moment counts this file or is seen deleted.
        await Tenancy.TenantRows.RequireOwnerAsync(dialect, connection, transaction, file.Tenant, cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO openai_files ({Columns}) VALUES (@Id, @Tenant, @Filename, @Purpose, @Bytes, @Sha256, @Examples, @CreatedBy, @CreatedAt)",
            new
            {
                file.Id,
                file.Tenant,
                file.Filename,
                file.Purpose,
                file.Bytes,
                file.Sha256,
                Examples = (long)file.Examples,
                file.CreatedBy,
                CreatedAt = file.CreatedAt.ToUnixTimeMilliseconds(),
            },
            transaction,
            cancellationToken: cancellationToken)).ConfigureAwait(false);
        await SqlRegistryStore.ReleaseStorageAsync(connection, transaction, releasedReservation, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<FineTuningFile?> GetAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<FileRow>(new CommandDefinition(
            $"SELECT {Columns} FROM openai_files WHERE id = @Id", new { Id = id }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return row?.ToFile();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<FineTuningFile>> ListAsync(string? tenant, string? purpose, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var where = (tenant, purpose) switch
        {
            (null, null) => "",
            (_, null) => "WHERE tenant = @Tenant",
            (null, _) => "WHERE purpose = @Purpose",
            _ => "WHERE tenant = @Tenant AND purpose = @Purpose",
        };
        var rows = await connection.QueryAsync<FileRow>(new CommandDefinition(
            $"SELECT {Columns} FROM openai_files {where} ORDER BY created_at DESC, id LIMIT @Limit",
            new { Tenant = tenant, Purpose = purpose, Limit = (long)limit },
            cancellationToken: cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToFile()).ToList();
    }

    /// <inheritdoc />
    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM openai_files WHERE id = @Id", new { Id = id }, cancellationToken: cancellationToken)).ConfigureAwait(false) > 0;
    }

    private sealed class FileRow
    {
        public string Id { get; set; } = "";

        public string Tenant { get; set; } = "";

        public string Filename { get; set; } = "";

        public string Purpose { get; set; } = "";

        public long Bytes { get; set; }

        public string Sha256 { get; set; } = "";

        public long Examples { get; set; }

        public string CreatedBy { get; set; } = "";

        public long CreatedAt { get; set; }

        public FineTuningFile ToFile() => new()
        {
            Id = Id,
            Tenant = Tenant,
            Filename = Filename,
            Purpose = Purpose,
            Bytes = Bytes,
            Sha256 = Sha256,
            Examples = (int)Examples,
            CreatedBy = CreatedBy,
            CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt),
        };
    }
}
