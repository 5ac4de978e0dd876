using System.Globalization;
using System.Text;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Registry;

namespace Maas.Server.Tenancy;

/// <summary>GET /api/v1/usage (JSON or CSV) and GET /api/v1/audit.</summary>
internal static class UsageEndpoints
{
    private const int MaxRows = 100_000;

    public static void Map(RouteGroupBuilder api)
    {
        // Admins see every tenant; a models:read key sees its own tenant's usage.
        api.MapGet("/usage", UsageAsync).RequireScope(MaasScopes.Admin, MaasScopes.ModelsRead);
        api.MapGet("/audit", AuditAsync).RequireScope(MaasScopes.Admin);
    }

    private static async Task<IResult> UsageAsync(HttpContext context, ITenancyStore store, UsageRecorder recorder, CancellationToken ct)
    {
        var caller = context.GetCaller()!;
        var q = context.Request.Query;
        var tenant = Text(q["tenant"]);
        if (!caller.IsAdmin)
        {
            if (tenant is not null && tenant != caller.Tenant)
            {
                throw new ApiException(StatusCodes.Status403Forbidden, "insufficient_scope", "only an admin key may read another tenant's usage");
            }

            tenant = caller.Tenant;
        }

        var grouping = Text(q["group_by"]) switch
        {
            null or "none" => UsageGrouping.None,
            "hour" => UsageGrouping.Hour,
            "day" => UsageGrouping.Day,
            var other => throw new ApiException(StatusCodes.Status400BadRequest, "invalid_query", $"group_by must be hour, day or none, not '{RegistryNames.Shorten(other)}'"),
        };
        // Usage names a model as each caller's tenant names it: the owner's calls by its short name, other tenants'
        // calls to a shared model as owner/name. A model asked for matches the rows that name it as given (as before)
        // and those that name the same model the other way, so its owner sees every tenant's calls to it in one answer.
        // The database picks those rows, so the rows of other models are never read (nor counted against the limit).
        var model = Text(q["model"]);
        Func<UsageRow, bool>? narrowed = caller is { IsAdmin: false, Models.Count: > 0 } ? row => Narrowed(caller, row) : null;
        var query = new UsageQuery
        {
            Tenant = tenant,
            KeyId = Text(q["key"]),
            ModelMatch = model is null ? null : UsageModelMatch.For(model, tenant ?? caller.Tenant),
            From = Time(q["from"], "from"),
            To = Time(q["to"], "to"),
            GroupBy = grouping,
            Limit = Limit(q, 10_000, MaxRows),
            Keep = narrowed,
        };

        var format = Text(q["format"]);
        if (format is not null && !format.Equals("csv", StringComparison.OrdinalIgnoreCase) && !format.Equals("json", StringComparison.OrdinalIgnoreCase))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_query", $"format must be csv or json, not '{RegistryNames.Shorten(format)}'");
        }

        // What this node recorded up to now is written first, so the answer counts every finished request.
        await recorder.FlushAsync(ct);
        var rows = await store.QueryUsageAsync(query, ct);
        var csv = string.Equals(format, "csv", StringComparison.OrdinalIgnoreCase)
            || context.Request.Headers.Accept.Any(a => a?.Contains("text/csv", StringComparison.OrdinalIgnoreCase) == true);
        if (csv)
        {
            return Results.Text(Csv(rows), "text/csv; charset=utf-8", Encoding.UTF8);
        }

        return Results.Json(
            new
            {
                group_by = grouping.ToString().ToLowerInvariant(),
                tenant = query.Tenant,
                key = query.KeyId,
                model,
                from = query.From,
                to = query.To,
                rows,
                totals = new
                {
                    requests = rows.Sum(r => r.Requests),
                    errors = rows.Sum(r => r.Errors),
                    prompt_tokens = rows.Sum(r => r.PromptTokens),
                    completion_tokens = rows.Sum(r => r.CompletionTokens),
                    total_tokens = rows.Sum(r => r.TotalTokens),
                    batch_items = rows.Sum(r => r.BatchItems),
                    compute_ms = rows.Sum(r => r.ComputeMs),

                    // Over every request of the rows: each row's mean weighted by its requests, and the largest.
                    avg_latency_ms = rows.Sum(r => r.Requests) is > 0 and var requests ? rows.Sum(r => r.AvgLatencyMs * r.Requests) / requests : 0,
                    max_latency_ms = rows.Count > 0 ? rows.Max(r => r.MaxLatencyMs) : 0,
                },
            },
            RegistryJson.Options);
    }

    // A key limited to some models reads the usage of those models (by any key of its tenant, as /api/v1/jobs shows
    // their jobs), and its own calls that named no model; never another model's, nor another key's other calls.
    private static bool Narrowed(Caller caller, UsageRow row) =>
        row.Model is { } model
            ? ModelPatterns.Allows(caller.Models, model.Contains('/', StringComparison.Ordinal) ? model : ModelKeys.Qualified(row.Tenant, model))
            : caller.KeyId is not null && string.Equals(row.KeyId, caller.KeyId, StringComparison.Ordinal);

    private static async Task<IResult> AuditAsync(HttpContext context, ITenancyStore store, UsageRecorder recorder, CancellationToken ct)
    {
        var q = context.Request.Query;
        var query = new AuditQuery
        {
            Actor = Text(q["actor"]),
            Tenant = Text(q["tenant"]),
            Action = Text(q["action"]),
            From = Time(q["from"], "from"),
            To = Time(q["to"], "to"),
            Before = ApiRequests.OptionalInt(Text(q["before"]), "before"),
            Limit = Limit(q, 100, 1000),
        };
        await recorder.FlushAsync(ct);
        var entries = await store.QueryAuditAsync(query, ct);
        return Results.Json(
            new { entries, next_before = entries.Count == query.Limit ? entries[^1].Id : (long?)null },
            RegistryJson.Options);
    }

    /// <summary>The rows as CSV (RFC 4180), one header line, times in ISO 8601 UTC.</summary>
    public static string Csv(IReadOnlyList<UsageRow> rows)
    {
        var csv = new StringBuilder(
            "period,tenant,key_id,model,requests,errors,prompt_tokens,completion_tokens,total_tokens,batch_items,compute_ms,avg_latency_ms,max_latency_ms\r\n");
        foreach (var r in rows)
        {
            csv.Append(r.Period?.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)).Append(',')
                .Append(Field(r.Tenant)).Append(',')
                .Append(Field(r.KeyId)).Append(',')
                .Append(Field(r.Model)).Append(',')
                .Append(CultureInfo.InvariantCulture, $"{r.Requests},{r.Errors},{r.PromptTokens},{r.CompletionTokens},{r.TotalTokens},{r.BatchItems},")
                .Append(r.ComputeMs.ToString("0.###", CultureInfo.InvariantCulture)).Append(',')
                .Append(r.AvgLatencyMs.ToString("0.###", CultureInfo.InvariantCulture)).Append(',')
                .Append(r.MaxLatencyMs.ToString("0.###", CultureInfo.InvariantCulture)).Append("\r\n");
        }

        return csv.ToString();
    }

    private static string Field(string? value) =>
        value is null ? "" : value.AsSpan().IndexOfAny(",\"\r\n") < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    // As every other list route: a limit out of range is refused with the range, never quietly clamped.
    private static int Limit(IQueryCollection q, int fallback, int max)
    {
        var limit = ApiRequests.OptionalInt(Text(q["limit"]), "limit") ?? fallback;
        return limit >= 1 && limit <= max
            ? limit
            : throw new ApiException(StatusCodes.Status400BadRequest, "invalid_query", $"limit must be between 1 and {max}, not {limit}");
    }

    private static string? Text(Microsoft.Extensions.Primitives.StringValues values) => values.FirstOrDefault() is { Length: > 0 } v ? v : null;

    private static DateTimeOffset? Time(Microsoft.Extensions.Primitives.StringValues values, string name)
    {
        var text = Text(values);
        if (text is null)
        {
            return null;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
        {
            return time;
        }

        throw new ApiException(StatusCodes.Status400BadRequest, "invalid_query",
            $"{name} must be an ISO 8601 time such as 2026-01-31T12:00:00Z, not '{RegistryNames.Shorten(text)}'");
    }
}
