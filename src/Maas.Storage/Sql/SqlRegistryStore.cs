using System.Data.Common;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using Maas.Core.Formats;
using Maas.Core.Instances;
using Maas.Core.Registry;
using Maas.Storage.Tenancy;

namespace Maas.Storage.Sql;

/// <summary>The registry on SQLite or PostgreSQL: one set of queries, the differences in the dialect.</summary>
public sealed class SqlRegistryStore : IRegistryStore, IInstanceStore, IAsyncDisposable
{
    private const string ModelColumns = """
        m.id, m.name, m.description, m.tags, m.task, m.visibility, m.owner, m.serving_config, m.created_by, m.created_at, m.updated_at,
        (SELECT MAX(v.version) FROM model_versions v WHERE v.model_id = m.id AND v.status = 'ready') AS latest_version
        """;

    private const string VersionColumns = """
        v.model_id, m.name AS model_name, m.owner AS model_owner, v.version, v.status, v.format, v.sha256, v.size_bytes, v.file_name, v.artifact_key,
        v.files, v.signature, v.metadata, v.derived_from_model, v.derived_from_version, v.derivation, v.created_by, v.created_at
        """;

    private const string SessionColumns = "s.id, m.name AS target, m.owner, s.file_name, s.total_bytes, s.expected_sha256, s.created_by, s.created_at, s.expires_at";



    private readonly TimeProvider _time;
    private readonly Lock _migrateGate = new();
    private Task? _migrated;

    static SqlRegistryStore()
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true;
    }

    // A lapsed instance's work: owned by no instance, or by one whose heartbeat is older than @LapsedBefore (or gone),
    // never by this store's own instance (@Self), whose work is live while it runs, whatever its heartbeat shows.
    internal const string NotLive =
        "(instance_id IS NULL OR (instance_id <> @Self AND instance_id NOT IN (SELECT id FROM maas_instances WHERE heartbeat_at >= @LapsedBefore)))";

    /// <summary>
    /// Creates the store over a dialect it then owns. Versions it starts uploading and jobs it creates are owned by
    /// <paramref name="instanceId"/> (this process's <see cref="InstanceHeartbeat.Id"/>; null: by none, so any
    /// recovery may clean them).
    /// </summary>
    public SqlRegistryStore(SqlDialect dialect, TimeProvider? time = null, string? instanceId = null)
    {
        Dialect = dialect;
        _time = time ?? TimeProvider.System;
        InstanceId = instanceId;
    }

    /// <summary>The instance that owns the versions this store starts uploading and the jobs it creates.</summary>
    public string? InstanceId { get; }

    /// <summary>The database dialect.</summary>
    public SqlDialect Dialect { get; }


    /// <inheritdoc />
    /// <remarks>Runs once per store: the registry and tenancy both need the schema at start, whichever starts first.</remarks>
    public Task MigrateAsync(CancellationToken cancellationToken)
    {
        lock (_migrateGate)
        {
            return _migrated ??= MigrationRunner.MigrateAsync(Dialect, Migrations.All, _time.GetUtcNow(), cancellationToken);
        }
    }

    /// <summary>Checks the database answers (for readiness).</summary>
    public async Task PingAsync(CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteScalarAsync<long>(Command("SELECT 1", null, null, cancellationToken)).ConfigureAwait(false);
    }

    // ---- models ----

    /// <inheritdoc />
    public async Task<Model> CreateModelAsync(NewModel model, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await TenantRows.RequireOwnerAsync(Dialect, connection, transaction, model.Owner, cancellationToken).ConfigureAwait(false);
        long id;
        try
        {
            id = await connection.ExecuteScalarAsync<long>(Command(
                """
                INSERT INTO models (name, description, tags, task, visibility, owner, serving_config, next_version, created_by, created_at, updated_at)
                VALUES (@Name, @Description, @Tags, @Task, @Visibility, @Owner, '{}', 1, @CreatedBy, @Now, @Now)
                RETURNING id
                """,
                new
                {
                    model.Name,
                    model.Description,
                    Tags = RegistryJson.Serialize(model.Tags),
                    model.Task,
                    Visibility = Text(model.Visibility),
                    model.Owner,
                    model.CreatedBy,
                    Now = now.ToUnixTimeMilliseconds(),
                },
                transaction,
                cancellationToken)).ConfigureAwait(false);
            await InsertTagsAsync(connection, transaction, id, model.Tags, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbException e) when (Dialect.IsUniqueViolation(e))
        {
            throw RegistryException.Conflict("model_exists", $"tenant '{model.Owner}' already has a model named '{model.Name}'");
        }

        return await GetModelAsync(ModelKeys.Of(model.Owner, model.Name), cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("the model just created is gone");
    }

    private static async Task InsertTagsAsync(DbConnection connection, DbTransaction transaction, long modelId, IEnumerable<string> tags, CancellationToken cancellationToken)
    {
        foreach (var tag in tags.Distinct(StringComparer.Ordinal))
        {
            await connection.ExecuteAsync(Command(
                "INSERT INTO model_tags (model_id, tag) VALUES (@ModelId, @Tag)", new { ModelId = modelId, Tag = tag }, transaction, cancellationToken)).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task<Model?> GetModelAsync(string name, CancellationToken cancellationToken)
    {
        if (!ModelKeys.TrySplit(name, out var owner, out var shortName))
        {
            return null;
        }

        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<ModelRow>(Command(
            $"SELECT {ModelColumns} FROM models m WHERE m.owner = @Owner AND m.name = @Name", new { Owner = owner, Name = shortName }, null, cancellationToken))
                .ConfigureAwait(false);
        return row?.ToModel();
    }

    /// <inheritdoc />
    public async Task<ModelPage> ListModelsAsync(ModelQuery query, CancellationToken cancellationToken)
    {
        var where = new StringBuilder("1 = 1");
        var parameters = new DynamicParameters();
        if (!string.IsNullOrEmpty(query.NameContains))
        {
            where.Append(" AND ").Append(Dialect.Contains("m.name", "@NameContains"));
            parameters.Add("NameContains", query.NameContains);
        }

        if (query.Name is not null)
        {
            where.Append(" AND m.name = @Name");
            parameters.Add("Name", query.Name);
        }

        if (query.Task is not null)
        {
            where.Append(" AND m.task = @Task");
            parameters.Add("Task", query.Task);
        }

        if (query.Owner is not null)
        {
            where.Append(" AND m.owner = @Owner");
            parameters.Add("Owner", query.Owner);
        }

        if (query.VisibleTo is not null)
        {
            where.Append(" AND (m.owner = @VisibleTo OR m.visibility = 'shared')");
            parameters.Add("VisibleTo", query.VisibleTo);
        }

        for (var i = 0; i < query.Tags.Count; i++)
        {
            where.Append($" AND EXISTS (SELECT 1 FROM model_tags t WHERE t.model_id = m.id AND t.tag = @Tag{i})");
            parameters.Add($"Tag{i}", query.Tags[i]);
        }

        if (query.Format is { } format)
        {
            where.Append(" AND EXISTS (SELECT 1 FROM model_versions f WHERE f.model_id = m.id AND f.status = 'ready' AND f.format = @Format)");
            parameters.Add("Format", Text(format));
        }

        parameters.Add("Limit", (long)query.Limit);
        parameters.Add("Offset", (long)query.Offset);
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<ModelRow>(Command(
            $"SELECT {ModelColumns} FROM models m WHERE {where} ORDER BY m.name, m.owner LIMIT @Limit OFFSET @Offset", parameters, null, cancellationToken)).ConfigureAwait(false);
        var total = await connection.ExecuteScalarAsync<long>(Command(
            $"SELECT COUNT(*) FROM models m WHERE {where}", parameters, null, cancellationToken)).ConfigureAwait(false);
        return new ModelPage(rows.Select(r => r.ToModel()).ToArray(), (int)total);
    }

    /// <inheritdoc />
    public async Task<Model?> UpdateModelAsync(string name, ModelUpdate update, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var id = await connection.ExecuteScalarAsync<long?>(Command(
            "SELECT id FROM models WHERE owner = @Owner AND name = @Name", KeyParameters(name), transaction, cancellationToken)).ConfigureAwait(false);
        if (id is null)
        {
            return null;
        }

        var set = new StringBuilder("updated_at = @Now");
        var parameters = new DynamicParameters(new { Id = id.Value, Now = now.ToUnixTimeMilliseconds() });
        if (update.Description is not null)
        {
            set.Append(", description = @Description");
            parameters.Add("Description", update.Description);
        }

        if (update.Task is not null || update.ClearTask)
        {
            set.Append(", task = @Task");
            parameters.Add("Task", update.ClearTask ? null : update.Task, System.Data.DbType.String);
        }

        if (update.Visibility is { } visibility)
        {
            set.Append(", visibility = @Visibility");
            parameters.Add("Visibility", Text(visibility));
        }

        if (update.Tags is not null)
        {
            set.Append(", tags = @Tags");
            parameters.Add("Tags", RegistryJson.Serialize(update.Tags));
            await connection.ExecuteAsync(Command("DELETE FROM model_tags WHERE model_id = @Id", new { Id = id.Value }, transaction, cancellationToken)).ConfigureAwait(false);
            await InsertTagsAsync(connection, transaction, id.Value, update.Tags, cancellationToken).ConfigureAwait(false);
        }

        await connection.ExecuteAsync(Command($"UPDATE models SET {set} WHERE id = @Id", parameters, transaction, cancellationToken)).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return await GetModelAsync(name, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<Model?> SetServingConfigAsync(string name, ServingConfig config, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using (var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false))
        {
            var changed = await connection.ExecuteAsync(Command(
                "UPDATE models SET serving_config = @Config, updated_at = @Now WHERE owner = @Owner AND name = @Name",
                new { KeyParameters(name).Owner, KeyParameters(name).Name, Config = RegistryJson.Serialize(config), Now = now.ToUnixTimeMilliseconds() },
                null,
                cancellationToken)).ConfigureAwait(false);
            if (changed == 0)
            {
                return null;
            }
        }

        return await GetModelAsync(name, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>?> DeleteModelAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var id = await connection.ExecuteScalarAsync<long?>(Command(
            "SELECT id FROM models WHERE owner = @Owner AND name = @Name", KeyParameters(name), transaction, cancellationToken)).ConfigureAwait(false);
        if (id is null)
        {
            return null;
        }

        var keys = (await connection.QueryAsync<string>(Command(
            "SELECT artifact_key FROM model_versions WHERE model_id = @Id AND artifact_key IS NOT NULL", new { Id = id.Value }, transaction, cancellationToken))
                .ConfigureAwait(false)).ToArray();
        foreach (var table in new[] { "model_aliases", "model_tags", "upload_sessions", "model_versions" })
        {
            await connection.ExecuteAsync(Command($"DELETE FROM {table} WHERE model_id = @Id", new { Id = id.Value }, transaction, cancellationToken)).ConfigureAwait(false);
        }

        await connection.ExecuteAsync(Command("DELETE FROM models WHERE id = @Id", new { Id = id.Value }, transaction, cancellationToken)).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return keys;
    }

    // ---- versions ----

    /// <inheritdoc />
    public async Task<int> ReserveVersionAsync(long modelId, int? version, string createdBy, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        long number;
        if (version is { } requested)
        {
            number = requested;
        }
        else
        {
            // The counter row serializes concurrent reservations, and numbers are never handed out twice,
            // even after their version was deleted (callers may have cached what "model/versions/N" was).
            var next = await connection.ExecuteScalarAsync<long?>(Command(
                "UPDATE models SET next_version = next_version + 1 WHERE id = @Id RETURNING next_version - 1",
                new { Id = modelId },
                transaction,
                cancellationToken)).ConfigureAwait(false);
            number = next ?? throw RegistryException.ModelNotFound($"#{modelId}");
            if (number > int.MaxValue)
            {
                // Version numbers are 32-bit; past the last one the counter must not wrap nor move.
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                throw RegistryException.Conflict(
                    "version_numbers_exhausted",
                    $"model '{await ModelNameAsync(modelId, cancellationToken).ConfigureAwait(false)}' has used every version number up to {int.MaxValue}; upload with " +
                    $"?version=N for a free number below it",
                    new Dictionary<string, object?> { ["limit"] = int.MaxValue });
            }
        }

        try
        {
            await connection.ExecuteAsync(Command(
                """
                INSERT INTO model_versions (model_id, version, status, created_by, created_at, instance_id)
                VALUES (@ModelId, @Version, 'uploading', @CreatedBy, @Now, @Instance)
                """,
                new { ModelId = modelId, Version = number, CreatedBy = createdBy, Now = now.ToUnixTimeMilliseconds(), Instance = InstanceId },
                transaction,
                cancellationToken)).ConfigureAwait(false);
            if (version is not null)
            {
                await connection.ExecuteAsync(Command(
                    "UPDATE models SET next_version = @Next WHERE id = @Id AND next_version < @Next",
                    new { Id = modelId, Next = number + 1 },
                    transaction,
                    cancellationToken)).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return (int)number;
        }
        catch (DbException e) when (Dialect.IsUniqueViolation(e))
        {
            throw RegistryException.Conflict(
                "version_exists",
                $"version {number} of model '{await ModelNameAsync(modelId, cancellationToken).ConfigureAwait(false)}' already exists or is being uploaded",
                new Dictionary<string, object?> { ["version"] = number });
        }
        catch (DbException e) when (Dialect.IsForeignKeyViolation(e))
        {
            throw RegistryException.ModelNotFound($"#{modelId}");
        }
    }

    /// <inheritdoc />
    public async Task<ModelVersion> CompleteVersionAsync(ModelVersion version, DateTimeOffset now, CancellationToken cancellationToken, string? releasedReservation = null)
    {
        await using (var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false))
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var changed = await connection.ExecuteAsync(Command(
                """
                UPDATE model_versions SET status = 'ready', format = @Format, sha256 = @Sha256, size_bytes = @SizeBytes, file_name = @FileName,
                    artifact_key = @ArtifactKey, files = @Files, signature = @Signature, metadata = @Metadata,
                    derived_from_model = @DerivedModel, derived_from_version = @DerivedVersion, derivation = @Derivation, ready_at = @Now
                WHERE model_id = @ModelId AND version = @Version AND status = 'uploading'
                """,
                new
                {
                    Format = Text(version.Format),
                    version.Sha256,
                    version.SizeBytes,
                    version.FileName,
                    version.ArtifactKey,
                    Files = RegistryJson.Serialize(version.Files),
                    Signature = RegistryJson.Serialize(version.Signature),
                    Metadata = RegistryJson.Serialize(version.Metadata),
                    DerivedModel = version.DerivedFrom?.Model,
                    DerivedVersion = (long?)version.DerivedFrom?.Version,
                    Derivation = version.DerivedFrom?.Relation,
                    Now = now.ToUnixTimeMilliseconds(),
                    version.ModelId,
                    Version = (long)version.Version,
                },
                transaction,
                cancellationToken)).ConfigureAwait(false);
            if (changed == 0)
            {
                throw RegistryException.Conflict(
                    "upload_aborted",
                    $"version {version.Version} of model '{version.Model}' is no longer being uploaded (the model or the reservation was deleted meanwhile)");
            }

            await ReleaseStorageAsync(connection, transaction, releasedReservation, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        return await GetVersionAsync(version.Model, version.Version, cancellationToken).ConfigureAwait(false)
            ?? throw RegistryException.VersionNotFound(version.Model, version.Version);
    }

    /// <inheritdoc />
    public async Task<bool> SetUploadingArtifactAsync(long modelId, int version, string? artifactKey, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteAsync(Command(
            "UPDATE model_versions SET artifact_key = @Key WHERE model_id = @ModelId AND version = @Version AND status = 'uploading'",
            new { ModelId = modelId, Version = (long)version, Key = artifactKey },
            null,
            cancellationToken)).ConfigureAwait(false) > 0;
    }

    /// <inheritdoc />
    public async Task AbandonVersionAsync(long modelId, int version, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(Command(
            "DELETE FROM model_versions WHERE model_id = @ModelId AND version = @Version AND status = 'uploading'",
            new { ModelId = modelId, Version = (long)version },
            null,
            cancellationToken)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ModelVersion?> GetVersionAsync(string model, int version, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<VersionRow>(Command(
            $"SELECT {VersionColumns} FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.owner = @Owner AND m.name = @Name AND v.version = " +
            $"@Version AND v.status = 'ready'",
            new { KeyParameters(model).Owner, KeyParameters(model).Name, Version = (long)version },
            null,
            cancellationToken)).ConfigureAwait(false);
        if (row is null)
        {
            return null;
        }

        var aliases = await connection.QueryAsync<string>(Command(
            "SELECT alias FROM model_aliases WHERE model_id = @ModelId AND version = @Version ORDER BY alias",
            new { row.ModelId, Version = (long)version },
            null,
            cancellationToken)).ConfigureAwait(false);
        return row.ToVersion(aliases.ToArray());
    }

    /// <inheritdoc />
    public async Task<ModelVersion?> GetLatestVersionAsync(string model, CancellationToken cancellationToken)
    {
        long? latest;
        await using (var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false))
        {
            latest = await connection.ExecuteScalarAsync<long?>(Command(
                "SELECT MAX(v.version) FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.owner = @Owner AND m.name = @Name AND v.status = 'ready'",
                KeyParameters(model),
                null,
                cancellationToken)).ConfigureAwait(false);
        }

        return latest is { } number ? await GetVersionAsync(model, (int)number, cancellationToken).ConfigureAwait(false) : null;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ModelVersion>> ListVersionsAsync(string model, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = (await connection.QueryAsync<VersionRow>(Command(
            $"SELECT {VersionColumns} FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.owner = @Owner AND m.name = @Name AND v.status = 'ready' ORDER BY v.version",
            KeyParameters(model),
            null,
            cancellationToken)).ConfigureAwait(false)).ToArray();
        if (rows.Length == 0)
        {
            return [];
        }

        var aliases = (await connection.QueryAsync<AliasRow>(Command(
            "SELECT alias, version, revision, updated_by, updated_at FROM model_aliases WHERE model_id = @ModelId ORDER BY alias",
            new { rows[0].ModelId },
            null,
            cancellationToken)).ConfigureAwait(false)).ToLookup(a => a.Version, a => a.Alias);
        return rows.Select(r => r.ToVersion(aliases[r.Version].ToArray())).ToArray();
    }

    /// <inheritdoc />
    public async Task<bool> ReplaceVersionMetadataAsync(long modelId, int version, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var changed = await connection.ExecuteAsync(Command(
            "UPDATE model_versions SET metadata = @Metadata WHERE model_id = @ModelId AND version = @Version AND status = 'ready'",
            new { Metadata = RegistryJson.Serialize(metadata), ModelId = modelId, Version = (long)version },
            null,
            cancellationToken)).ConfigureAwait(false);
        return changed == 1;
    }

    /// <inheritdoc />
    public async Task<bool> AddVersionClassLabelsAsync(long modelId, int version, string artifactKey, IReadOnlyDictionary<string, IReadOnlyList<string>> labels,
        CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var parameters = new { ModelId = modelId, Version = (long)version, ArtifactKey = artifactKey };
        var stored = await connection.ExecuteScalarAsync<string?>(Command(
            "SELECT signature FROM model_versions WHERE model_id = @ModelId AND version = @Version AND status = 'ready' AND artifact_key = @ArtifactKey",
            parameters,
            null,
            cancellationToken)).ConfigureAwait(false);
        JsonObject? signature;
        try
        {
            signature = stored is null ? null : JsonNode.Parse(stored) as JsonObject;
        }
        catch (JsonException)
        {
            signature = null;
        }

        if (signature is null || signature["class_labels"] is not null)
        {
            return false;
        }

        // Edited as a document, not through ModelSignature: fields a newer server wrote stay. The update is a
        // compare-and-set on the text read, so a concurrent edit is never overwritten (it wins; this one is dropped).
        signature["class_labels"] = JsonSerializer.SerializeToNode(labels, RegistryJson.Options);
        var changed = await connection.ExecuteAsync(Command(
            "UPDATE model_versions SET signature = @Signature WHERE model_id = @ModelId AND version = @Version AND status = 'ready' AND artifact_key = @ArtifactKey " +
            "AND signature = @Stored",
            new { Signature = signature.ToJsonString(RegistryJson.Options), Stored = stored, parameters.ModelId, parameters.Version, parameters.ArtifactKey },
            null,
            cancellationToken)).ConfigureAwait(false);
        return changed == 1;
    }

    /// <inheritdoc />
    public async Task<string?> DeleteVersionAsync(long modelId, int version, bool removeAliases, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var parameters = new { ModelId = modelId, Version = (long)version };
        var key = await connection.ExecuteScalarAsync<string?>(Command(
            "SELECT artifact_key FROM model_versions WHERE model_id = @ModelId AND version = @Version AND status = 'ready'",
            parameters,
            transaction,
            cancellationToken)).ConfigureAwait(false);
        if (key is null)
        {
            return null;
        }

        var aliases = (await connection.QueryAsync<string>(Command(
            "SELECT alias FROM model_aliases WHERE model_id = @ModelId AND version = @Version ORDER BY alias", parameters, transaction, cancellationToken))
                .ConfigureAwait(false)).ToArray();
        if (aliases.Length > 0)
        {
            if (!removeAliases)
            {
                throw ModelRegistry.AliasedConflict(await ModelNameAsync(modelId, cancellationToken).ConfigureAwait(false), version, aliases);
            }

            await connection.ExecuteAsync(Command(
                "DELETE FROM model_aliases WHERE model_id = @ModelId AND version = @Version", parameters, transaction, cancellationToken)).ConfigureAwait(false);
        }

        try
        {
            await connection.ExecuteAsync(Command(
                "DELETE FROM model_versions WHERE model_id = @ModelId AND version = @Version", parameters, transaction, cancellationToken)).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbException e) when (Dialect.IsForeignKeyViolation(e))
        {
            // An alias was pointed at it between our read and the delete.
            var name = await ModelNameAsync(modelId, cancellationToken).ConfigureAwait(false);
            throw ModelRegistry.AliasedConflict(name, version, ["(set meanwhile)"]);
        }

        return key;
    }

    /// <summary>
    /// Counts what refers to the artifact <c>@Key</c>: model versions, datasets, job checkpoints and uploaded files
    /// share one content-addressed store, so one file may back several of them.
    /// </summary>
    internal const string ArtifactReferenceCountSql = """
        SELECT (SELECT COUNT(*) FROM model_versions WHERE artifact_key = @Key)
            + (SELECT COUNT(*) FROM dataset_versions WHERE sha256 = @Key)
            + (SELECT COUNT(*) FROM queued_jobs WHERE checkpoint_key = @Key)
            + (SELECT COUNT(*) FROM openai_files WHERE sha256 = @Key)
        """;

    /// <inheritdoc />
    public async Task<bool> IsArtifactReferencedAsync(string artifactKey, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteScalarAsync<long>(Command(
            ArtifactReferenceCountSql,
            new { Key = artifactKey },
            null,
            cancellationToken)).ConfigureAwait(false) > 0;
    }

    /// <inheritdoc />
    public async Task<IReadOnlySet<string>> ListArtifactKeysAsync(CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var keys = await connection.QueryAsync<string>(Command(
            """
            SELECT artifact_key FROM model_versions WHERE artifact_key IS NOT NULL
            UNION SELECT sha256 FROM dataset_versions
            UNION SELECT checkpoint_key FROM queued_jobs WHERE checkpoint_key IS NOT NULL
            UNION SELECT sha256 FROM openai_files
            """,
            null,
            null,
            cancellationToken)).ConfigureAwait(false);
        return keys.ToHashSet(StringComparer.Ordinal);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string?>> DeleteUploadingVersionsAsync(DateTimeOffset lapsedBefore, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var keys = await connection.QueryAsync<string?>(Command(
            $"DELETE FROM model_versions WHERE status = 'uploading' AND {NotLive} RETURNING artifact_key",
            new { LapsedBefore = lapsedBefore.ToUnixTimeMilliseconds(), Self = InstanceId ?? "" },
            null,
            cancellationToken)).ConfigureAwait(false);
        return keys.ToArray();
    }

    // ---- aliases ----

    /// <inheritdoc />
    public async Task<ModelAlias> SetAliasAsync(long modelId, string alias, int version, AliasPrecondition condition, string updatedBy, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var ready = await connection.ExecuteScalarAsync<long>(Command(
            "SELECT COUNT(*) FROM model_versions WHERE model_id = @ModelId AND version = @Version AND status = 'ready'",
            new { ModelId = modelId, Version = (long)version },
            transaction,
            cancellationToken)).ConfigureAwait(false);
        if (ready == 0)
        {
            throw RegistryException.VersionNotFound(await ModelNameAsync(modelId, cancellationToken).ConfigureAwait(false), version);
        }

        var parameters = new DynamicParameters(new
        {
            ModelId = modelId,
            Alias = alias,
            Version = (long)version,
            UpdatedBy = updatedBy,
            Now = now.ToUnixTimeMilliseconds(),
        });
        long? revision;
        try
        {
            if (condition.MustNotExist)
            {
                revision = await connection.ExecuteScalarAsync<long?>(Command(
                    """
                    INSERT INTO model_aliases (model_id, alias, version, revision, updated_by, updated_at)
                    VALUES (@ModelId, @Alias, @Version, 1, @UpdatedBy, @Now) RETURNING revision
                    """,
                    parameters,
                    transaction,
                    cancellationToken)).ConfigureAwait(false);
            }
            else if (condition.IsConditional)
            {
                var where = new StringBuilder("model_id = @ModelId AND alias = @Alias");
                if (condition.Revision is { } expectedRevision)
                {
                    where.Append(" AND revision = @ExpectedRevision");
                    parameters.Add("ExpectedRevision", expectedRevision);
                }

                if (condition.CurrentVersion is { } expectedVersion)
                {
                    where.Append(" AND version = @ExpectedVersion");
                    parameters.Add("ExpectedVersion", (long)expectedVersion);
                }

                revision = await connection.ExecuteScalarAsync<long?>(Command(
                    $"UPDATE model_aliases SET version = @Version, revision = revision + 1, updated_by = @UpdatedBy, updated_at = @Now WHERE {where} RETURNING revision",
                    parameters,
                    transaction,
                    cancellationToken)).ConfigureAwait(false);
            }
            else
            {
                revision = await connection.ExecuteScalarAsync<long?>(Command(
                    """
                    INSERT INTO model_aliases (model_id, alias, version, revision, updated_by, updated_at)
                    VALUES (@ModelId, @Alias, @Version, 1, @UpdatedBy, @Now)
                    ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version, revision = model_aliases.revision + 1,
                        updated_by = excluded.updated_by, updated_at = excluded.updated_at
                    RETURNING revision
                    """,
                    parameters,
                    transaction,
                    cancellationToken)).ConfigureAwait(false);
            }

            if (revision is null)
            {
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                throw await PreconditionFailedAsync(modelId, alias, condition, cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbException e) when (Dialect.IsUniqueViolation(e))
        {
            throw await PreconditionFailedAsync(modelId, alias, condition, cancellationToken).ConfigureAwait(false);
        }
        catch (DbException e) when (Dialect.IsForeignKeyViolation(e))
        {
            throw RegistryException.VersionNotFound(await ModelNameAsync(modelId, cancellationToken).ConfigureAwait(false), version);
        }

        return new ModelAlias(alias, version, revision.Value, DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds()), updatedBy);
    }

    private async Task<RegistryException> PreconditionFailedAsync(long modelId, string alias, AliasPrecondition condition, CancellationToken cancellationToken)
    {
        var name = await ModelNameAsync(modelId, cancellationToken).ConfigureAwait(false);
        var current = await GetAliasAsync(modelId, alias, cancellationToken).ConfigureAwait(false);
        var details = new Dictionary<string, object?>
        {
            ["current_version"] = current?.Version,
            ["current_revision"] = current?.Revision,
        };
        if (condition.MustNotExist)
        {
            return RegistryException.Conflict("alias_exists", $"alias '{alias}' of model '{name}' already exists (it points at version {current?.Version})", details);
        }

        var expected = condition.Revision is { } r ? $"revision {r}" : $"version {condition.CurrentVersion}";
        var actual = current is null ? "it does not exist" : $"it is at version {current.Version}, revision {current.Revision}";
        return RegistryException.Conflict("alias_conflict", $"alias '{alias}' of model '{name}' was expected at {expected} but {actual}: someone moved it first", details);
    }

    /// <inheritdoc />
    public async Task<bool> DeleteAliasAsync(long modelId, string alias, AliasPrecondition condition, CancellationToken cancellationToken)
    {
        var where = new StringBuilder("model_id = @ModelId AND alias = @Alias");
        var parameters = new DynamicParameters(new { ModelId = modelId, Alias = alias });
        if (condition.Revision is { } revision)
        {
            where.Append(" AND revision = @Revision");
            parameters.Add("Revision", revision);
        }

        if (condition.CurrentVersion is { } version)
        {
            where.Append(" AND version = @CurrentVersion");
            parameters.Add("CurrentVersion", (long)version);
        }

        int deleted;
        await using (var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false))
        {
            deleted = await connection.ExecuteAsync(Command($"DELETE FROM model_aliases WHERE {where}", parameters, null, cancellationToken)).ConfigureAwait(false);
        }

        if (deleted > 0)
        {
            return true;
        }

        if (condition.IsConditional && await GetAliasAsync(modelId, alias, cancellationToken).ConfigureAwait(false) is not null)
        {
            throw await PreconditionFailedAsync(modelId, alias, condition, cancellationToken).ConfigureAwait(false);
        }

        return false;
    }

    /// <inheritdoc />
    public async Task<ModelAlias?> GetAliasAsync(long modelId, string alias, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<AliasRow>(Command(
            "SELECT alias, version, revision, updated_by, updated_at FROM model_aliases WHERE model_id = @ModelId AND alias = @Alias",
            new { ModelId = modelId, Alias = alias },
            null,
            cancellationToken)).ConfigureAwait(false);
        return row?.ToAlias();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ModelAlias>> ListAliasesAsync(long modelId, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<AliasRow>(Command(
            "SELECT alias, version, revision, updated_by, updated_at FROM model_aliases WHERE model_id = @ModelId ORDER BY alias",
            new { ModelId = modelId },
            null,
            cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToAlias()).ToArray();
    }

    // ---- upload sessions ----

    /// <inheritdoc />
    public async Task CreateUploadSessionAsync(UploadSession session, long modelId, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var parameters = UploadSessionRow.Parameters(session);
        parameters.Add("ModelId", modelId);
        await connection.ExecuteAsync(Command(
            $"INSERT INTO upload_sessions ({UploadSessionRow.InsertColumns}, model_id) VALUES ({UploadSessionRow.InsertValues}, @ModelId)",
            parameters,
            null,
            cancellationToken)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<UploadSession?> GetUploadSessionAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<UploadSessionRow>(Command(
            $"SELECT {SessionColumns} FROM upload_sessions s JOIN models m ON m.id = s.model_id WHERE s.id = @Id",
            new { Id = id },
            null,
            cancellationToken)).ConfigureAwait(false);
        return row is null ? null : ToSession(row);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<UploadSession>> ListUploadSessionsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<UploadSessionRow>(Command(
            $"SELECT {SessionColumns} FROM upload_sessions s JOIN models m ON m.id = s.model_id ORDER BY s.created_at",
            null,
            null,
            cancellationToken)).ConfigureAwait(false);
        return rows.Select(ToSession).ToArray();
    }

    // The one sum of a tenant's stored bytes: its model versions, dataset versions and uploaded files.
    private const string OwnerStoredSum = """
        (SELECT COALESCE(SUM(v.size_bytes), 0) FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.owner = @Owner)
            + (SELECT COALESCE(SUM(v.size_bytes), 0) FROM dataset_versions v JOIN datasets d ON d.name = v.dataset WHERE d.owner = @Owner)
            + (SELECT COALESCE(SUM(f.bytes), 0) FROM openai_files f WHERE f.tenant = @Owner)
        """;

    private const string OwnerStorageBytes = "SELECT " + OwnerStoredSum;

    // Stored and reserved bytes read in one statement, so one snapshot: PostgreSQL's read committed gives each
    // statement its own, and an upload that stored its bytes between two reads (dropping its reservation in the same
    // step) would count in neither.
    private const string OwnerStorageUse = "SELECT " + OwnerStoredSum + " AS stored, (SELECT COALESCE(SUM(bytes), 0) FROM storage_reservations WHERE owner = @Owner) AS reserved";

    /// <inheritdoc />
    public async Task<long> GetOwnerStorageBytesAsync(string owner, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteScalarAsync<long>(Command(OwnerStorageBytes, new { Owner = owner }, null, cancellationToken)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<StorageUse> ReserveStorageAsync(StorageReservationRequest request, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await Dialect.LockOwnerStorageAsync(connection, transaction, request.Owner, cancellationToken).ConfigureAwait(false);
        var now = request.Now.ToUnixTimeMilliseconds();
        await connection.ExecuteAsync(Command(
            "DELETE FROM storage_reservations WHERE owner = @Owner AND (expires_at <= @Now OR id = @Id)",
            new { request.Owner, request.Id, Now = now },
            transaction,
            cancellationToken)).ConfigureAwait(false);
        foreach (var replaced in request.Replaces)
        {
            await connection.ExecuteAsync(Command("DELETE FROM storage_reservations WHERE id = @Id", new { Id = replaced }, transaction, cancellationToken)).ConfigureAwait(false);
        }

        var use = await connection.QuerySingleAsync<StorageUseRow>(Command(OwnerStorageUse, new { request.Owner }, transaction, cancellationToken)).ConfigureAwait(false);
        var (stored, reserved) = (use.Stored, use.Reserved);
        var left = request.Quota - stored - reserved - request.Bytes;
        if (left < 0)
        {
            await transaction.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
            return new StorageUse(stored, reserved, null);
        }

        var granted = request.Bytes + Math.Min(request.Ahead, left / 2);
        await connection.ExecuteAsync(Command(
            "INSERT INTO storage_reservations (id, owner, bytes, expires_at) VALUES (@Id, @Owner, @Bytes, @ExpiresAt)",
            new { request.Id, request.Owner, Bytes = granted, ExpiresAt = request.ExpiresAt.ToUnixTimeMilliseconds() },
            transaction,
            cancellationToken)).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new StorageUse(stored, reserved, granted);
    }

    /// <inheritdoc />
    public async Task ReleaseStorageAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await ReleaseStorageAsync(connection, null, id, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Drops storage reservation <paramref name="id"/> (none when null) within <paramref name="transaction"/>: the step that stores its bytes.</summary>
    public static async Task ReleaseStorageAsync(DbConnection connection, DbTransaction? transaction, string? id, CancellationToken cancellationToken)
    {
        if (id is not null)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM storage_reservations WHERE id = @Id", new { Id = id }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task<int> CountUploadSessionsAsync(string owner, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return (int)await connection.ExecuteScalarAsync<long>(Command(
            "SELECT COUNT(*) FROM upload_sessions s JOIN models m ON m.id = s.model_id WHERE m.owner = @Owner",
            new { Owner = owner },
            null,
            cancellationToken)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task DeleteUploadSessionAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(Command("DELETE FROM upload_sessions WHERE id = @Id", new { Id = id }, null, cancellationToken)).ConfigureAwait(false);
    }

    // ---- instances ----

    /// <inheritdoc />
    public async Task BeatAsync(string id, string kind, string host, DateTimeOffset startedAt, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(Command(
            """
            INSERT INTO maas_instances (id, kind, host, started_at, heartbeat_at) VALUES (@Id, @Kind, @Host, @StartedAt, @Now)
            ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at
            """,
            new { Id = id, Kind = kind, Host = host, StartedAt = startedAt.ToUnixTimeMilliseconds(), Now = now.ToUnixTimeMilliseconds() },
            null,
            cancellationToken)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task RemoveInstanceAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(Command("DELETE FROM maas_instances WHERE id = @Id", new { Id = id }, null, cancellationToken)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlySet<string>> ListLiveInstancesAsync(DateTimeOffset lapsedBefore, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var ids = await connection.QueryAsync<string>(Command(
            "SELECT id FROM maas_instances WHERE heartbeat_at >= @LapsedBefore",
            new { LapsedBefore = lapsedBefore.ToUnixTimeMilliseconds() },
            null,
            cancellationToken)).ConfigureAwait(false);
        return ids.ToHashSet(StringComparer.Ordinal);
    }

    /// <inheritdoc />
    public async Task<int> RemoveLapsedInstancesAsync(DateTimeOffset lapsedBefore, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteAsync(Command(
            "DELETE FROM maas_instances WHERE heartbeat_at < @LapsedBefore",
            new { LapsedBefore = lapsedBefore.ToUnixTimeMilliseconds() },
            null,
            cancellationToken)).ConfigureAwait(false);
    }

    // ---- helpers ----

    private async Task<string> ModelNameAsync(long modelId, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<KeyColumns>(Command(
            "SELECT owner, name FROM models WHERE id = @Id", new { Id = modelId }, null, cancellationToken)).ConfigureAwait(false);
        return row is not null ? ModelKeys.Of(row.Owner, row.Name) : $"#{modelId}";
    }

    // A model key ("name" or "owner/name") as the owner and name columns; an invalid key matches no row.
    private static KeyColumns KeyParameters(string key) =>
        ModelKeys.TrySplit(key, out var owner, out var name) ? new KeyColumns(owner, name) : new KeyColumns("", "");

    private sealed record KeyColumns(string Owner, string Name);

    private static CommandDefinition Command(string sql, object? parameters, DbTransaction? transaction, CancellationToken cancellationToken) =>
        new(sql, parameters, transaction, cancellationToken: cancellationToken);

    private static string Text<T>(T value)
        where T : struct, Enum => value.ToString().ToLowerInvariant();

    private static T Parse<T>(string text)
        where T : struct, Enum => Enum.Parse<T>(text, ignoreCase: true);

    private static DateTimeOffset FromUnix(long milliseconds) => DateTimeOffset.FromUnixTimeMilliseconds(milliseconds);

    private static UploadSession ToSession(UploadSessionRow row) =>
        row.Fill(new UploadSession { Id = row.Id, FileName = row.FileName, Model = ModelKeys.Of(row.Owner, row.Target) });

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Dialect.DisposeAsync();

    private sealed class ModelRow
    {
        public long Id { get; set; }

        public string Name { get; set; } = "";

        public string Description { get; set; } = "";

        public string Tags { get; set; } = "[]";

        public string? Task { get; set; }

        public string Visibility { get; set; } = "private";

        public string Owner { get; set; } = "";

        public string ServingConfig { get; set; } = "{}";

        public string CreatedBy { get; set; } = "";

        public long CreatedAt { get; set; }

        public long UpdatedAt { get; set; }

        public long? LatestVersion { get; set; }

        public Model ToModel() => new()
        {
            Id = Id,
            Name = Name,
            Description = Description,
            Tags = RegistryJson.Deserialize<string[]>(Tags, []),
            Task = Task,
            Visibility = Parse<ModelVisibility>(Visibility),
            Owner = Owner,
            ServingConfig = RegistryJson.Deserialize(ServingConfig, new ServingConfig()),
            CreatedBy = CreatedBy,
            CreatedAt = FromUnix(CreatedAt),
            UpdatedAt = FromUnix(UpdatedAt),
            LatestVersion = (int?)LatestVersion,
        };
    }

    private sealed class VersionRow
    {
        public long ModelId { get; set; }

        public string ModelName { get; set; } = "";

        public string ModelOwner { get; set; } = "";

        public long Version { get; set; }

        public string Status { get; set; } = "";

        public string? Format { get; set; }

        public string? Sha256 { get; set; }

        public long SizeBytes { get; set; }

        public string? FileName { get; set; }

        public string? ArtifactKey { get; set; }

        public string Files { get; set; } = "[]";

        public string Signature { get; set; } = "{}";

        public string Metadata { get; set; } = "{}";

        public string? DerivedFromModel { get; set; }

        public long? DerivedFromVersion { get; set; }

        public string? Derivation { get; set; }

        public string CreatedBy { get; set; } = "";

        public long CreatedAt { get; set; }

        public ModelVersion ToVersion(IReadOnlyList<string> aliases) => new()
        {
            ModelId = ModelId,
            Model = ModelKeys.Of(ModelOwner, ModelName),
            Version = (int)Version,
            Status = Parse<VersionStatus>(Status),
            Format = Format is null ? default : Parse<ModelFormat>(Format),
            Sha256 = Sha256 ?? "",
            SizeBytes = SizeBytes,
            FileName = FileName ?? "",
            ArtifactKey = ArtifactKey ?? "",
            Files = RegistryJson.Deserialize<ArtifactFile[]>(Files, []),
            Signature = RegistryJson.Deserialize(Signature, new ModelSignature()),
            Metadata = RegistryJson.Deserialize<Dictionary<string, string>>(Metadata, []),
            DerivedFrom = DerivedFromModel is not null && DerivedFromVersion is { } from ? new Lineage(DerivedFromModel, (int)from, Derivation ?? "derived_from") : null,
            CreatedBy = CreatedBy,
            CreatedAt = FromUnix(CreatedAt),
            Aliases = aliases,
        };
    }

    private sealed class AliasRow
    {
        public string Alias { get; set; } = "";

        public long Version { get; set; }

        public long Revision { get; set; }

        public string UpdatedBy { get; set; } = "";

        public long UpdatedAt { get; set; }

        public ModelAlias ToAlias() => new(Alias, (int)Version, Revision, FromUnix(UpdatedAt), UpdatedBy);
    }

    private sealed class StorageUseRow
    {
        public long Stored { get; init; }

        public long Reserved { get; init; }
    }
}
