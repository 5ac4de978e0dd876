using System.Data.Common;
using System.Globalization;
using System.Text;
using Dapper;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Storage.Sql;

namespace Maas.Storage.Tenancy;

/// <summary>Tenants, keys, usage and audit on the registry's database (SQLite or PostgreSQL, one set of queries).</summary>
public sealed partial class SqlTenancyStore : ITenancyStore
{
    // Rows per PostgreSQL batch (one round trip each).
    private const int InsertChunk = 500;

    private const string KeyColumns = """
        k.id, k.prefix, k.salt, k.hash, k.name, k.tenant, k.scopes, k.models, k.limits, k.expires_at, k.created_by, k.created_at,
        k.last_used_at, k.revoked_at, k.revoked_by, k.managed_by
        """;

    private const string TenantColumns = "name, limits, created_by, created_at, disabled_at, disabled_by";

    private const string BumpEpoch = "UPDATE tenancy_state SET epoch = epoch + 1 WHERE id = 1";

    static SqlTenancyStore()
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true;
    }

    /// <summary>Creates the store over a dialect owned by someone else (the registry store's).</summary>
    public SqlTenancyStore(SqlDialect dialect)
    {
        Dialect = dialect;
    }

    /// <summary>The database dialect.</summary>
    public SqlDialect Dialect { get; }

    // ---- tenants ----

    /// <inheritdoc />
    public async Task<Tenant> CreateTenantAsync(Tenant tenant, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await connection.ExecuteAsync(Command(
                "INSERT INTO tenants (name, limits, created_by, created_at) VALUES (@Name, @Limits, @CreatedBy, @CreatedAt)",
                new { tenant.Name, Limits = RegistryJson.Serialize(tenant.Limits), tenant.CreatedBy, CreatedAt = tenant.CreatedAt.ToUnixTimeMilliseconds() },
                null,
                cancellationToken)).ConfigureAwait(false);
        }
        catch (DbException e) when (Dialect.IsUniqueViolation(e))
        {
            throw await WasDeletedAsync(tenant.Name, cancellationToken).ConfigureAwait(false)
                ? TenancyException.Conflict("tenant_exists", $"the name '{tenant.Name}' belonged to a deleted tenant, whose usage and audit history keep it; choose another name")
                : TenancyException.Conflict("tenant_exists", $"a tenant named '{tenant.Name}' already exists");
        }

        return tenant;
    }

    /// <inheritdoc />
    public async Task<Tenant?> GetTenantAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<TenantRow>(Command(
            $"SELECT {TenantColumns} FROM tenants WHERE name = @Name AND deleted_at IS NULL", new { Name = name }, null, cancellationToken)).ConfigureAwait(false);
        return row?.ToTenant();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<Tenant>> ListTenantsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<TenantRow>(Command(
            $"SELECT {TenantColumns} FROM tenants WHERE deleted_at IS NULL ORDER BY name", null, null, cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToTenant()).ToArray();
    }

    /// <inheritdoc />
    public async Task<bool> SetTenantLimitsAsync(string name, UsageLimits limits, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var changed = await connection.ExecuteAsync(Command(
            "UPDATE tenants SET limits = @Limits WHERE name = @Name AND deleted_at IS NULL", new { Name = name, Limits = RegistryJson.Serialize(limits) }, transaction,
                cancellationToken)).ConfigureAwait(false);
        await connection.ExecuteAsync(Command(BumpEpoch, null, transaction, cancellationToken)).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return changed == 1;
    }

    // ---- keys ----

    /// <inheritdoc />
    public async Task CreateKeyAsync(ApiKey key, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // FOR SHARE: a delete or a suspension of the tenant waits for this key, or this key sees it.
        switch (await TenantRows.LockAsync(Dialect, connection, transaction, key.Tenant, RowLock.Share, cancellationToken).ConfigureAwait(false))
        {
            case TenantRowState.Missing or TenantRowState.Deleted:
                throw TenancyManager.TenantNotFound(key.Tenant);
            case TenantRowState.Disabled:
                throw TenancyManager.TenantDisabled(key.Tenant);
        }

        try
        {
            await connection.ExecuteAsync(Command(
                """
                INSERT INTO api_keys (id, prefix, salt, hash, name, tenant, scopes, models, limits, expires_at, created_by, created_at, managed_by)
                VALUES (@Id, @Prefix, @Salt, @Hash, @Name, @Tenant, @Scopes, @Models, @Limits, @ExpiresAt, @CreatedBy, @CreatedAt, @ManagedBy)
                """,
                new
                {
                    key.Id,
                    key.Prefix,
                    key.Salt,
                    key.Hash,
                    key.Name,
                    key.Tenant,
                    Scopes = RegistryJson.Serialize(key.Scopes),
                    Models = RegistryJson.Serialize(key.Models),
                    Limits = RegistryJson.Serialize(key.Limits),
                    ExpiresAt = key.ExpiresAt?.ToUnixTimeMilliseconds(),
                    key.CreatedBy,
                    CreatedAt = key.CreatedAt.ToUnixTimeMilliseconds(),
                    key.ManagedBy,
                },
                transaction,
                cancellationToken)).ConfigureAwait(false);
            await connection.ExecuteAsync(Command(BumpEpoch, null, transaction, cancellationToken)).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbException e) when (Dialect.IsForeignKeyViolation(e))
        {
            throw TenancyException.NotFound("tenant_not_found", $"tenant '{key.Tenant}' does not exist");
        }
    }

    /// <inheritdoc />
    public async Task<ApiKey?> GetKeyAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<KeyRow>(Command(
            $"SELECT {KeyColumns} FROM api_keys k WHERE k.id = @Id", new { Id = id }, null, cancellationToken)).ConfigureAwait(false);
        return row?.ToKey();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ApiKey>> ListKeysAsync(string? tenant, bool includeRevoked, CancellationToken cancellationToken)
    {
        var where = new StringBuilder("1 = 1");
        if (tenant is not null)
        {
            where.Append(" AND k.tenant = @Tenant");
        }

        if (!includeRevoked)
        {
            where.Append(" AND k.revoked_at IS NULL");
        }

        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<KeyRow>(Command(
            $"SELECT {KeyColumns} FROM api_keys k WHERE {where} ORDER BY k.created_at DESC, k.id", new { Tenant = tenant }, null, cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToKey()).ToArray();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<(ApiKey Key, UsageLimits TenantLimits, bool TenantDisabled)>> FindKeysByPrefixAsync(string prefix, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<KeyRow>(Command(
            $"SELECT {KeyColumns}, t.limits AS tenant_limits, t.disabled_at AS tenant_disabled_at FROM api_keys k JOIN tenants t ON t.name = k.tenant WHERE k.prefix = @Prefix",
            new { Prefix = prefix },
            null,
            cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => (r.ToKey(), RegistryJson.Deserialize(r.TenantLimits, UsageLimits.None), r.TenantDisabledAt is not null)).ToArray();
    }

    /// <inheritdoc />
    public async Task<bool> RevokeKeyAsync(string id, string revokedBy, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var changed = await connection.ExecuteAsync(Command(
            "UPDATE api_keys SET revoked_at = @At, revoked_by = @By WHERE id = @Id AND revoked_at IS NULL",
            new { Id = id, By = revokedBy, At = at.ToUnixTimeMilliseconds() },
            transaction,
            cancellationToken)).ConfigureAwait(false);
        await connection.ExecuteAsync(Command(BumpEpoch, null, transaction, cancellationToken)).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return changed == 1;
    }

    /// <inheritdoc />
    public async Task TouchKeysAsync(IReadOnlyCollection<KeyValuePair<string, DateTimeOffset>> lastUsed, CancellationToken cancellationToken)
    {
        if (lastUsed.Count == 0)
        {
            return;
        }

        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (id, at) in lastUsed)
        {
            await connection.ExecuteAsync(Command(
                "UPDATE api_keys SET last_used_at = @At WHERE id = @Id AND (last_used_at IS NULL OR last_used_at < @At)",
                new { Id = id, At = at.ToUnixTimeMilliseconds() },
                transaction,
                cancellationToken)).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<long> GetEpochAsync(CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteScalarAsync<long>(Command("SELECT epoch FROM tenancy_state WHERE id = 1", null, null, cancellationToken)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<bool> ClaimBootstrapAsync(CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteAsync(Command(
            "UPDATE tenancy_state SET bootstrapped = 1 WHERE id = 1 AND bootstrapped = 0", null, null, cancellationToken)).ConfigureAwait(false) == 1;
    }

    // ---- usage and audit ----

    /// <inheritdoc />
    public async Task AppendAsync(IReadOnlyList<UsageRecord> usage, IReadOnlyList<AuditEntry> audit, CancellationToken cancellationToken)
    {
        if (usage.Count == 0 && audit.Count == 0)
        {
            return;
        }

        try
        {
            await AppendNowAsync(usage, audit, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (Dialect.IsRefusedValue(e) && !cancellationToken.IsCancellationRequested)
        {
            throw new RecordsRefusedException($"the database refused the values of {usage.Count} usage record(s) and {audit.Count} audit entries: {e.Message}", e);
        }
    }

    private async Task AppendNowAsync(IReadOnlyList<UsageRecord> usage, IReadOnlyList<AuditEntry> audit, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await InsertRowsAsync(
            connection,
            transaction,
            "INSERT INTO usage_records (at, tenant, key_id, model, version, protocol, operation, status, latency_ms, prompt_tokens, completion_tokens, batch_items, compute_ms) " +
            "VALUES (@p0, @p1, @p2, @p3, @p4, @p5, @p6, @p7, @p8, @p9, @p10, @p11, @p12)",
            usage,
            static r => [r.At.ToUnixTimeMilliseconds(), r.Tenant, r.KeyId, r.Model, (long?)r.Version, r.Protocol, r.Operation, (long)r.Status, r.LatencyMs, r.PromptTokens,
                r.CompletionTokens, r.BatchItems, r.ComputeMs],
            cancellationToken).ConfigureAwait(false);
        await InsertRowsAsync(
            connection,
            transaction,
            "INSERT INTO audit_log (at, actor, actor_tenant, action, target, client, request_id, status, result) VALUES (@p0, @p1, @p2, @p3, @p4, @p5, @p6, @p7, @p8)",
            audit,
            static e => [e.At.ToUnixTimeMilliseconds(), e.Actor, e.ActorTenant, e.Action, e.Target, e.Client, e.RequestId, (long)e.Status, e.Result],
            cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    // Many rows, fast on both databases: PostgreSQL gets them as one batch in one round trip, SQLite runs one
    // prepared statement per row inside the transaction (in-process, so a round trip costs nothing).
    private static async Task InsertRowsAsync<T>(DbConnection connection, DbTransaction transaction, string sql, IReadOnlyList<T> rows, Func<T, object?[]> values,
        CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
        {
            return;
        }

        if (connection.CanCreateBatch)
        {
            for (var start = 0; start < rows.Count; start += InsertChunk)
            {
                await using var batch = connection.CreateBatch();
                batch.Transaction = transaction;
                for (var i = start; i < Math.Min(rows.Count, start + InsertChunk); i++)
                {
                    var command = batch.CreateBatchCommand();
                    command.CommandText = PositionalSql(sql);
                    foreach (var value in values(rows[i]))
                    {
                        var parameter = command.CreateParameter();
                        parameter.Value = value ?? DBNull.Value;
                        command.Parameters.Add(parameter);
                    }

                    batch.BatchCommands.Add(command);
                }

                await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        await using var insert = connection.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = sql;
        var first = values(rows[0]);
        var parameters = new DbParameter[first.Length];
        for (var p = 0; p < first.Length; p++)
        {
            parameters[p] = insert.CreateParameter();
            parameters[p].ParameterName = "@p" + p.ToString(CultureInfo.InvariantCulture);
            insert.Parameters.Add(parameters[p]);
        }

        foreach (var row in rows)
        {
            var rowValues = values(row);
            for (var p = 0; p < rowValues.Length; p++)
            {
                parameters[p].Value = rowValues[p] ?? DBNull.Value;
            }

            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    // Npgsql batch commands take positional parameters ($1, $2, ...), not names.
    private static string PositionalSql(string sql)
    {
        var text = new StringBuilder(sql);
        for (var p = 30; p >= 0; p--)
        {
            text.Replace("@p" + p.ToString(CultureInfo.InvariantCulture), "$" + (p + 1).ToString(CultureInfo.InvariantCulture));
        }

        return text.ToString();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<UsageRow>> QueryUsageAsync(UsageQuery query, CancellationToken cancellationToken)
    {
        var (where, parameters) = UsageFilter(query);
        var bucket = query.GroupBy switch
        {
            UsageGrouping.Hour => 3_600_000L,
            UsageGrouping.Day => 86_400_000L,
            _ => 0L,
        };
        // The bucket is a constant of ours, not caller input, so it is written into the SQL (one expression to group by).
        var period = bucket == 0 ? "CAST(NULL AS BIGINT)" : string.Create(CultureInfo.InvariantCulture, $"(u.at / {bucket}) * {bucket}");
        // A row filter runs here, on the grouped rows, so the limit counts only the rows it keeps.
        parameters.Add("Limit", (long)query.Limit);
        var limit = query.Keep is null ? "LIMIT @Limit" : "";
        var sql = $"""
            SELECT {period} AS period, u.tenant, u.key_id, u.model,
                   COUNT(*) AS requests,
                   CAST(SUM(CASE WHEN u.status >= 400 THEN 1 ELSE 0 END) AS BIGINT) AS errors,
                   CAST(SUM(u.prompt_tokens) AS BIGINT) AS prompt_tokens,
                   CAST(SUM(u.completion_tokens) AS BIGINT) AS completion_tokens,
                   CAST(SUM(u.batch_items) AS BIGINT) AS batch_items,
                   CAST(SUM(u.compute_ms) AS DOUBLE PRECISION) AS compute_ms,
                   CAST(AVG(u.latency_ms) AS DOUBLE PRECISION) AS avg_latency_ms,
                   CAST(MAX(u.latency_ms) AS DOUBLE PRECISION) AS max_latency_ms
            FROM usage_records u
            WHERE {where}
            GROUP BY 1, u.tenant, u.key_id, u.model
            ORDER BY 1, u.tenant, u.key_id, u.model
            {limit}
            """;
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<UsageRowData>(Command(sql, parameters, null, cancellationToken)).ConfigureAwait(false);
        return query.Keep is { } keep
            ? rows.Select(r => r.ToRow()).Where(keep).Take(query.Limit).ToArray()
            : rows.Select(r => r.ToRow()).ToArray();
    }

    /// <inheritdoc />
    public async Task<PeriodUsage> GetPeriodUsageAsync(string? keyId, string? tenant, DateTimeOffset dayStart, DateTimeOffset monthStart, CancellationToken cancellationToken)
    {
        var subject = keyId is not null ? "u.key_id = @Key" : "u.tenant = @Tenant";
        var sql = $"""
            SELECT CAST(COALESCE(SUM(CASE WHEN u.at >= @Day THEN u.prompt_tokens + u.completion_tokens ELSE 0 END), 0) AS BIGINT) AS day_tokens,
                   CAST(COALESCE(SUM(CASE WHEN u.at >= @Day THEN u.compute_ms ELSE 0 END), 0) AS DOUBLE PRECISION) AS day_compute_ms,
                   CAST(COALESCE(SUM(u.prompt_tokens + u.completion_tokens), 0) AS BIGINT) AS month_tokens,
                   CAST(COALESCE(SUM(u.compute_ms), 0) AS DOUBLE PRECISION) AS month_compute_ms
            FROM usage_records u
            WHERE {subject} AND u.at >= @Month
            """;
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleAsync<PeriodRow>(Command(
            sql,
            new { Key = keyId, Tenant = tenant, Day = dayStart.ToUnixTimeMilliseconds(), Month = Math.Min(monthStart.ToUnixTimeMilliseconds(), dayStart.ToUnixTimeMilliseconds()) },
            null,
            cancellationToken)).ConfigureAwait(false);
        return new PeriodUsage(row.DayTokens, row.DayComputeMs, row.MonthTokens, row.MonthComputeMs);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<AuditEntry>> QueryAuditAsync(AuditQuery query, CancellationToken cancellationToken)
    {
        var where = new StringBuilder("1 = 1");
        var parameters = new DynamicParameters();
        if (query.Actor is not null)
        {
            where.Append(" AND a.actor = @Actor");
            parameters.Add("Actor", query.Actor);
        }

        if (query.Tenant is not null)
        {
            where.Append(" AND a.actor_tenant = @Tenant");
            parameters.Add("Tenant", query.Tenant);
        }

        if (query.Action is not null)
        {
            where.Append(" AND ").Append(Dialect.Contains("a.action", "@Action"));
            parameters.Add("Action", query.Action);
        }

        if (query.From is { } from)
        {
            where.Append(" AND a.at >= @From");
            parameters.Add("From", from.ToUnixTimeMilliseconds());
        }

        if (query.To is { } to)
        {
            where.Append(" AND a.at < @To");
            parameters.Add("To", to.ToUnixTimeMilliseconds());
        }

        if (query.Before is { } before)
        {
            where.Append(" AND a.id < @Before");
            parameters.Add("Before", before);
        }

        parameters.Add("Limit", (long)query.Limit);
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<AuditRow>(Command(
            $"SELECT a.id, a.at, a.actor, a.actor_tenant, a.action, a.target, a.client, a.request_id, a.status, a.result FROM audit_log a WHERE {where} ORDER " +
            $"BY a.id DESC LIMIT @Limit",
            parameters,
            null,
            cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToEntry()).ToArray();
    }

    private static (string Where, DynamicParameters Parameters) UsageFilter(UsageQuery query)
    {
        var where = new StringBuilder("1 = 1");
        var parameters = new DynamicParameters();
        if (query.Tenant is not null)
        {
            where.Append(" AND u.tenant = @Tenant");
            parameters.Add("Tenant", query.Tenant);
        }

        if (query.KeyId is not null)
        {
            where.Append(" AND u.key_id = @Key");
            parameters.Add("Key", query.KeyId);
        }

        if (query.Model is not null)
        {
            where.Append(" AND u.model = @Model");
            parameters.Add("Model", query.Model);
        }

        // Each spelling compared whole, so the (tenant, model) pair needs no concatenation in either dialect.
        if (query.ModelMatch is { } match)
        {
            where.Append(" AND (u.model = @ModelAsAsked OR u.model = @ModelQualified OR (u.tenant = @ModelOwner AND u.model = @ModelName))");
            parameters.Add("ModelAsAsked", match.AsAsked);
            parameters.Add("ModelQualified", match.Qualified);
            parameters.Add("ModelOwner", match.Owner);
            parameters.Add("ModelName", match.Name);
        }

        if (query.From is { } f)
        {
            where.Append(" AND u.at >= @From");
            parameters.Add("From", f.ToUnixTimeMilliseconds());
        }

        if (query.To is { } t)
        {
            where.Append(" AND u.at < @To");
            parameters.Add("To", t.ToUnixTimeMilliseconds());
        }

        return (where.ToString(), parameters);
    }

    private static CommandDefinition Command(string sql, object? parameters, DbTransaction? transaction, CancellationToken cancellationToken) =>
        new(sql, parameters, transaction, cancellationToken: cancellationToken);

    private static DateTimeOffset FromUnix(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private sealed class TenantRow
    {
        public string Name { get; set; } = "";

        public string Limits { get; set; } = "{}";

        public string CreatedBy { get; set; } = "";

        public long CreatedAt { get; set; }

        public long? DisabledAt { get; set; }

        public string? DisabledBy { get; set; }

        public Tenant ToTenant() => new()
        {
            Name = Name,
            Limits = RegistryJson.Deserialize(Limits, UsageLimits.None),
            CreatedBy = CreatedBy,
            CreatedAt = FromUnix(CreatedAt),
            DisabledAt = DisabledAt is { } d ? FromUnix(d) : null,
            DisabledBy = DisabledBy,
        };
    }

    private sealed class KeyRow
    {
        public string Id { get; set; } = "";

        public string Prefix { get; set; } = "";

        public string Salt { get; set; } = "";

        public string Hash { get; set; } = "";

        public string Name { get; set; } = "";

        public string Tenant { get; set; } = "";

        public string Scopes { get; set; } = "[]";

        public string Models { get; set; } = "[]";

        public string Limits { get; set; } = "{}";

        public long? ExpiresAt { get; set; }

        public string CreatedBy { get; set; } = "";

        public long CreatedAt { get; set; }

        public long? LastUsedAt { get; set; }

        public long? RevokedAt { get; set; }

        public string? RevokedBy { get; set; }

        public string? ManagedBy { get; set; }

        public string? TenantLimits { get; set; }

        public long? TenantDisabledAt { get; set; }

        public ApiKey ToKey() => new()
        {
            Id = Id,
            Prefix = Prefix,
            Salt = Salt,
            Hash = Hash,
            Name = Name,
            Tenant = Tenant,
            // Older servers stored a JSON null from a key request as given: it grants no scope, and a null model
            // pattern ("") matches no model rather than widening the key to every model (an empty list).
            Scopes = RegistryJson.Deserialize<string?[]>(Scopes, []).OfType<string>().ToArray(),
            Models = RegistryJson.Deserialize<string?[]>(Models, []).Select(m => m ?? "").ToArray(),
            Limits = RegistryJson.Deserialize(Limits, UsageLimits.None),
            ExpiresAt = ExpiresAt is { } e ? FromUnix(e) : null,
            CreatedBy = CreatedBy,
            CreatedAt = FromUnix(CreatedAt),
            LastUsedAt = LastUsedAt is { } l ? FromUnix(l) : null,
            RevokedAt = RevokedAt is { } r ? FromUnix(r) : null,
            RevokedBy = RevokedBy,
            ManagedBy = ManagedBy,
        };
    }

    private sealed class UsageRowData
    {
        public long? Period { get; set; }

        public string Tenant { get; set; } = "";

        public string? KeyId { get; set; }

        public string? Model { get; set; }

        public long Requests { get; set; }

        public long Errors { get; set; }

        public long PromptTokens { get; set; }

        public long CompletionTokens { get; set; }

        public long BatchItems { get; set; }

        public double ComputeMs { get; set; }

        public double AvgLatencyMs { get; set; }

        public double MaxLatencyMs { get; set; }

        public UsageRow ToRow() => new()
        {
            Period = Period is { } p ? FromUnix(p) : null,
            Tenant = Tenant,
            KeyId = KeyId,
            Model = Model,
            Requests = Requests,
            Errors = Errors,
            PromptTokens = PromptTokens,
            CompletionTokens = CompletionTokens,
            BatchItems = BatchItems,
            ComputeMs = ComputeMs,
            AvgLatencyMs = AvgLatencyMs,
            MaxLatencyMs = MaxLatencyMs,
        };
    }

    private sealed class PeriodRow
    {
        public long DayTokens { get; set; }

        public double DayComputeMs { get; set; }

        public long MonthTokens { get; set; }

        public double MonthComputeMs { get; set; }
    }

    private sealed class AuditRow
    {
        public long Id { get; set; }

        public long At { get; set; }

        public string Actor { get; set; } = "";

        public string? ActorTenant { get; set; }

        public string Action { get; set; } = "";

        public string? Target { get; set; }

        public string? Client { get; set; }

        public string? RequestId { get; set; }

        public long Status { get; set; }

        public string Result { get; set; } = "";

        public AuditEntry ToEntry() => new()
        {
            Id = Id,
            At = FromUnix(At),
            Actor = Actor,
            ActorTenant = ActorTenant,
            Action = Action,
            Target = Target,
            Client = Client,
            RequestId = RequestId,
            Status = (int)Status,
            Result = Result,
        };
    }
}
