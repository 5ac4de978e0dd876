using System.Data.Common;
using Dapper;
using Maas.Core.Deployments;
using Maas.Core.Registry;
using Maas.Storage.Sql;
using Maas.Storage.Tenancy;

namespace Maas.Storage.Deployments;

/// <summary>Deployments on the registry's database (SQLite or PostgreSQL, one set of queries).</summary>
/// <remarks>
/// Every change is one transaction: the row (compare-and-set on its revision), a history row, and the change counter
/// other servers poll.
/// </remarks>
public sealed class SqlDeploymentStore : IDeploymentStore
{
    /// <summary>Creates the store over a dialect owned by someone else (the registry store's).</summary>
    public SqlDeploymentStore(SqlDialect dialect)
    {
        Dialect = dialect;
    }

    /// <summary>The database dialect.</summary>
    public SqlDialect Dialect { get; }

    /// <inheritdoc />
    public async Task<Deployment> CreateAsync(Deployment deployment, DeploymentEvent created, CancellationToken cancellationToken)
    {
        var stored = deployment with { Revision = 1 };
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await TenantRows.RequireOwnerAsync(Dialect, connection, transaction, stored.Tenant, cancellationToken).ConfigureAwait(false);
        try
        {
            await connection.ExecuteAsync(Command(
                """
                INSERT INTO deployments (tenant, name, model, state, revision, document, created_at, updated_at)
                VALUES (@Tenant, @Name, @Model, @State, 1, @Document, @CreatedAt, @UpdatedAt)
                """,
                new
                {
                    stored.Tenant,
                    stored.Name,
                    stored.Model,
                    State = DeploymentRules.StateName(stored.State),
                    Document = RegistryJson.Serialize(stored),
                    CreatedAt = stored.CreatedAt.ToUnixTimeMilliseconds(),
                    UpdatedAt = stored.UpdatedAt.ToUnixTimeMilliseconds(),
                },
                transaction,
                cancellationToken)).ConfigureAwait(false);
        }
        catch (DbException e) when (Dialect.IsUniqueViolation(e))
        {
            throw RegistryException.Conflict(
                "deployment_exists",
                $"a deployment named '{deployment.Name}' or one for model '{deployment.Model}' already exists; change it, or delete it first");
        }

        await AppendAsync(connection, transaction, stored, created with { Revision = 1 }, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return stored;
    }

    /// <inheritdoc />
    public async Task<Deployment?> GetAsync(string tenant, string name, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var document = await connection.QuerySingleOrDefaultAsync<string>(Command(
            "SELECT document FROM deployments WHERE tenant = @Tenant AND name = @Name", new { Tenant = tenant, Name = name }, null, cancellationToken)).ConfigureAwait(false);
        return document is null ? null : Read(document);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<Deployment>> ListAsync(string? tenant, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var documents = await connection.QueryAsync<string>(Command(
            $"SELECT document FROM deployments {(tenant is null ? "" : "WHERE tenant = @Tenant")} ORDER BY tenant, name",
            new { Tenant = tenant },
            null,
            cancellationToken)).ConfigureAwait(false);
        return documents.Select(Read).ToArray();
    }

    /// <inheritdoc />
    public async Task<Deployment> UpdateAsync(Deployment deployment, long expectedRevision, DeploymentEvent change, CancellationToken cancellationToken)
    {
        var stored = deployment with { Revision = expectedRevision + 1 };
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var changed = await connection.ExecuteAsync(Command(
            """
            UPDATE deployments SET state = @State, revision = @Revision, document = @Document, updated_at = @UpdatedAt
            WHERE tenant = @Tenant AND name = @Name AND revision = @Expected
            """,
            new
            {
                stored.Tenant,
                stored.Name,
                State = DeploymentRules.StateName(stored.State),
                stored.Revision,
                Document = RegistryJson.Serialize(stored),
                UpdatedAt = stored.UpdatedAt.ToUnixTimeMilliseconds(),
                Expected = expectedRevision,
            },
            transaction,
            cancellationToken)).ConfigureAwait(false);
        if (changed == 0)
        {
            var current = await connection.ExecuteScalarAsync<long?>(Command(
                "SELECT revision FROM deployments WHERE tenant = @Tenant AND name = @Name", new { stored.Tenant, stored.Name }, transaction, cancellationToken))
                    .ConfigureAwait(false);
            throw current is null
                ? NotFound(stored.Name)
                : RegistryException.Conflict(
                    "deployment_changed",
                    $"deployment '{stored.Name}' changed meanwhile (revision {current}, not {expectedRevision}); read it again and retry",
                    new Dictionary<string, object?> { ["revision"] = current });
        }

        await AppendAsync(connection, transaction, stored, change with { Revision = stored.Revision }, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return stored;
    }

    /// <inheritdoc />
    public async Task<bool> DeleteAsync(string tenant, string name, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var deleted = await connection.ExecuteAsync(Command(
            "DELETE FROM deployments WHERE tenant = @Tenant AND name = @Name", new { Tenant = tenant, Name = name }, transaction, cancellationToken)).ConfigureAwait(false);
        if (deleted == 0)
        {
            return false;
        }

        await connection.ExecuteAsync(Command(
            "DELETE FROM deployment_history WHERE tenant = @Tenant AND name = @Name", new { Tenant = tenant, Name = name }, transaction, cancellationToken)).ConfigureAwait(false);
        await BumpAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DeploymentEvent>> HistoryAsync(string tenant, string name, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<HistoryRow>(Command(
            """
            SELECT id AS Id, at AS At, actor AS Actor, action AS Action, reason AS Reason, state AS State, traffic AS Traffic, revision AS Revision
            FROM deployment_history WHERE tenant = @Tenant AND name = @Name ORDER BY id DESC LIMIT @Limit
            """,
            new { Tenant = tenant, Name = name, Limit = (long)limit },
            null,
            cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToEvent()).ToArray();
    }

    /// <inheritdoc />
    public async Task<long> ChangeCounterAsync(CancellationToken cancellationToken)
    {
        await using var connection = await Dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteScalarAsync<long>(Command("SELECT counter FROM deployment_changes WHERE id = 1", null, null, cancellationToken)).ConfigureAwait(false);
    }

    private static async Task AppendAsync(DbConnection connection, DbTransaction transaction, Deployment deployment, DeploymentEvent change, CancellationToken cancellationToken)
    {
        await connection.ExecuteAsync(Command(
            """
            INSERT INTO deployment_history (tenant, name, at, actor, action, reason, state, traffic, revision)
            VALUES (@Tenant, @Name, @At, @Actor, @Action, @Reason, @State, @Traffic, @Revision)
            """,
            new
            {
                deployment.Tenant,
                deployment.Name,
                At = change.At.ToUnixTimeMilliseconds(),
                change.Actor,
                change.Action,
                change.Reason,
                State = DeploymentRules.StateName(deployment.State),
                Traffic = RegistryJson.Serialize(deployment.Traffic),
                change.Revision,
            },
            transaction,
            cancellationToken)).ConfigureAwait(false);
        await BumpAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
    }

    private static Task BumpAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(Command("UPDATE deployment_changes SET counter = counter + 1 WHERE id = 1", null, transaction, cancellationToken));

    private static Deployment Read(string document) =>
        RegistryJson.Deserialize<Deployment?>(document, null) ?? throw new InvalidOperationException("a stored deployment document is empty");

    private static RegistryException NotFound(string name) => RegistryException.NotFound("deployment_not_found", $"deployment '{RegistryNames.Shorten(name)}' does not exist");

    private static CommandDefinition Command(string sql, object? parameters, DbTransaction? transaction, CancellationToken cancellationToken) =>
        new(sql, parameters, transaction, cancellationToken: cancellationToken);

    private sealed class HistoryRow
    {
        public long Id { get; set; }

        public long At { get; set; }

        public string Actor { get; set; } = "";

        public string Action { get; set; } = "";

        public string? Reason { get; set; }

        public string State { get; set; } = "";

        public string Traffic { get; set; } = "[]";

        public long Revision { get; set; }

        public DeploymentEvent ToEvent() => new()
        {
            Id = Id,
            At = DateTimeOffset.FromUnixTimeMilliseconds(At),
            Actor = Actor,
            Action = Action,
            Reason = Reason,
            State = RegistryJson.Deserialize($"\"{State}\"", DeploymentState.Active),
            Traffic = RegistryJson.Deserialize<IReadOnlyList<TrafficShare>>(Traffic, []),
            Revision = Revision,
        };
    }
}
