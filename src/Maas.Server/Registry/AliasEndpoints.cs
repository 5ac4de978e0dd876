using System.Globalization;
using Maas.Core.Registry;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Microsoft.Net.Http.Headers;

namespace Maas.Server.Registry;

/// <summary>
/// Aliases: set or move atomically, optionally compare-and-set (If-Match with the alias's ETag, If-None-Match: *,
/// or "expected_version" in the body); a lost race is a 409.
/// </summary>
internal static class AliasEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapGet("/models/{name}/aliases", ListAsync);
        api.MapGet("/models/{name}/aliases/{alias}", GetAsync);
        api.MapPut("/models/{name}/aliases/{alias}", SetAsync);
        api.MapDelete("/models/{name}/aliases/{alias}", DeleteAsync);
    }

    private static async Task<IResult> ListAsync(string name, HttpContext context, IModelRegistry registry)
    {
        var aliases = await registry.ListAliasesAsync(name, context.RequestAborted);
        return Results.Json(new { model = ModelKeys.RelativeTo(name, context.CallerTenant()), aliases = aliases.Select(AliasResponse.From).ToArray() }, RegistryJson.Options);
    }

    private static async Task<IResult> GetAsync(string name, string alias, HttpContext context, IModelRegistry registry)
    {
        var found = await registry.GetAliasAsync(name, alias, context.RequestAborted);
        context.Response.Headers.ETag = ETag(found);
        return Results.Json(AliasResponse.From(found), RegistryJson.Options);
    }

    private static async Task<IResult> SetAsync(string name, string alias, HttpContext context, IModelRegistry registry)
    {
        var body = await ApiRequests.ReadJsonAsync<SetAliasRequest>(context.Request, context.RequestAborted);
        if (body.Version is not { } version || version < 1)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_version", "version (a number of 1 or more) is required");
        }

        var condition = Precondition(context.Request) with { CurrentVersion = ExpectedVersion(body.ExpectedVersion) };
        var result = await registry.SetAliasAsync(name, alias, version, condition, ApiRequests.Caller(context), context.RequestAborted);
        context.Response.Headers.ETag = ETag(result);
        return Results.Json(AliasResponse.From(result), RegistryJson.Options);
    }

    private static async Task<IResult> DeleteAsync(string name, string alias, HttpContext context, IModelRegistry registry)
    {
        var condition = Precondition(context.Request) with
        {
            CurrentVersion = ExpectedVersion(ApiRequests.OptionalInt(context.Request.Query["expected_version"], "expected_version")),
        };
        if (condition.MustNotExist)
        {
            // "Create, never move" cannot hold for a delete; ignoring it would delete an alias the caller meant to keep.
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_precondition",
                "If-None-Match: * (create, never move) does not apply to a delete; use If-Match or expected_version");
        }

        await registry.DeleteAliasAsync(name, alias, condition, context.RequestAborted);
        return Results.NoContent();
    }

    // No alias ever points below version 1: such an expectation is a mistake in the request, not a lost race (409).
    private static int? ExpectedVersion(int? expected) => expected is < 1
        ? throw new ApiException(StatusCodes.Status400BadRequest, "invalid_precondition", $"expected_version must be a version number (1 or more), not {expected}")
        : expected;

    private static string ETag(ModelAlias alias) => $"\"{alias.Revision.ToString(CultureInfo.InvariantCulture)}\"";

    private static AliasPrecondition Precondition(HttpRequest request)
    {
        var condition = new AliasPrecondition();
        if (request.Headers.IfNoneMatch.ToString() is { Length: > 0 } noneMatch)
        {
            if (noneMatch.Trim() != "*")
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "invalid_precondition", "If-None-Match on an alias takes only '*' (create, never move)");
            }

            condition = condition with { MustNotExist = true };
        }

        if (request.Headers.IfMatch.ToString() is { Length: > 0 } match)
        {
            if (!EntityTagHeaderValue.TryParse(match, out var tag) || !long.TryParse(tag.Tag.Value?.Trim('"'), NumberStyles.None, CultureInfo.InvariantCulture, out var revision))
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "invalid_precondition",
                    $"If-Match must be the alias's ETag (e.g. \"3\"), not '{RegistryNames.Shorten(match)}'");
            }

            condition = condition with { Revision = revision };
        }

        return condition;
    }
}
