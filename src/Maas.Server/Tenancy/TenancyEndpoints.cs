using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Registry;

namespace Maas.Server.Tenancy;

/// <summary>Tenants, keys and the caller's own identity under /api/v1.</summary>
internal static class TenancyEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        var tenants = api.MapGroup("/tenants").RequireScope(MaasScopes.Admin);
        tenants.MapPost("", CreateTenantAsync).WithAuditAction("tenants.create");
        tenants.MapGet("", async (ITenancyStore store, CancellationToken ct) =>
            Results.Json(new { tenants = (await store.ListTenantsAsync(ct)).Select(TenantDto.From) }, RegistryJson.Options));
        tenants.MapGet("/{name}", async (string name, ITenancyStore store, CancellationToken ct) =>
            Results.Json(TenantDto.From(await store.GetTenantAsync(name, ct) ?? throw TenancyManager.TenantNotFound(name)), RegistryJson.Options));
        tenants.MapPatch("/{name}", UpdateTenantAsync).WithAuditAction("tenants.update");
        tenants.MapDelete("/{name}", async (string name, HttpContext context, TenancyManager manager, CancellationToken ct) =>
        {
            await manager.DeleteTenantAsync(name, context.GetCaller()!.Actor, ct);
            return Results.NoContent();
        }).WithAuditAction("tenants.delete");

        var keys = api.MapGroup("/keys").RequireScope(MaasScopes.Admin);
        keys.MapPost("", CreateKeyAsync).WithAuditAction("keys.create");
        keys.MapGet("", ListKeysAsync);
        keys.MapGet("/{id}", async (string id, ITenancyStore store, TimeProvider time, CancellationToken ct) =>
            Results.Json(KeyDto.From(await store.GetKeyAsync(id, ct) ?? throw TenancyManager.KeyNotFound(id), time.GetUtcNow()), RegistryJson.Options));
        keys.MapDelete("/{id}", async (string id, HttpContext context, TenancyManager manager, CancellationToken ct) =>
        {
            await manager.RevokeKeyAsync(id, context.GetCaller()!.Actor, ct);
            return Results.NoContent();
        }).WithAuditAction("keys.revoke");

        api.MapGet("/me", (HttpContext context, TimeProvider time) =>
        {
            var caller = context.GetCaller()!;
            return Results.Json(
                new
                {
                    key_id = caller.KeyId,
                    key_prefix = caller.KeyPrefix,
                    key_name = caller.KeyName,
                    tenant = caller.Tenant,
                    scopes = caller.Scopes,
                    models = caller.Models,
                },
                RegistryJson.Options);
        }).RequireAnyKey();
    }

    private static async Task<IResult> CreateTenantAsync(HttpContext context, TenancyManager manager, CancellationToken ct)
    {
        var request = await ApiRequests.ReadJsonAsync<CreateTenantRequest>(context.Request, ct);
        var tenant = await manager.CreateTenantAsync(request.Name, request.Limits, context.GetCaller()!.Actor, ct);
        context.Usage().AuditTarget = tenant.Name;
        return Results.Json(TenantDto.From(tenant), RegistryJson.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> UpdateTenantAsync(string name, HttpContext context, TenancyManager manager, CancellationToken ct)
    {
        var request = await ApiRequests.ReadJsonAsync<UpdateTenantRequest>(context.Request, ct);
        if (request.Disabled is not { } disabled)
        {
            // An empty body is a mistake, not a wish to drop every limit: clearing them takes {"limits": {}}.
            if (request.Limits is null)
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "invalid_json", "give limits (an object; {} clears them), disabled, or both");
            }

            return Results.Json(TenantDto.From(await manager.SetTenantLimitsAsync(name, request.Limits, ct)), RegistryJson.Options);
        }

        context.Usage().AuditTarget = $"{name} ({(disabled ? "disabled" : "enabled")})";
        return Results.Json(TenantDto.From(await manager.SetTenantDisabledAsync(name, disabled, context.GetCaller()!.Actor, ct, request.Limits)), RegistryJson.Options);
    }

    private static async Task<IResult> CreateKeyAsync(HttpContext context, TenancyManager manager, TimeProvider time, CancellationToken ct)
    {
        var request = await ApiRequests.ReadJsonAsync<CreateKeyRequest>(context.Request, ct);
        var caller = context.GetCaller()!;
        var (key, secret) = await manager.CreateKeyAsync(
            new NewApiKey(
                request.Name ?? "",
                request.Tenant ?? caller.Tenant,
                request.Scopes ?? [],
                request.Models ?? [],
                request.ExpiresAt,
                request.Limits ?? UsageLimits.None,
                caller.Actor),
            ct);
        context.Usage().AuditTarget = $"{key.Id} (tenant {key.Tenant})";
        context.Response.Headers.CacheControl = "no-store"; // the only answer that carries a secret
        return Results.Json(KeyDto.From(key, time.GetUtcNow(), secret), RegistryJson.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> ListKeysAsync(HttpContext context, ITenancyStore store, TimeProvider time, CancellationToken ct)
    {
        var tenant = context.Request.Query["tenant"].FirstOrDefault();
        var revoked = ApiRequests.Flag(context.Request.Query["include_revoked"].FirstOrDefault(), "include_revoked");
        var now = time.GetUtcNow();
        var keys = await store.ListKeysAsync(string.IsNullOrEmpty(tenant) ? null : tenant, revoked, ct);
        return Results.Json(new { keys = keys.Select(k => KeyDto.From(k, now)) }, RegistryJson.Options);
    }

    /// <summary>Turns tenancy's refusals into the management API's error body.</summary>
    public static TBuilder WithTenancyErrors<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.AddEndpointFilter(async (invocation, next) =>
        {
            try
            {
                return await next(invocation);
            }
            catch (TenancyException e)
            {
                return ApiErrors.Result(e.Status, e.Code, e.Message);
            }
        });
        return builder;
    }
}
