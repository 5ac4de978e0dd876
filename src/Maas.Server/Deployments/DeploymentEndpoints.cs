using System.Globalization;
using Maas.Core.Deployments;
using Maas.Core.Registry;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Registry;
using Microsoft.Net.Http.Headers;

namespace Maas.Server.Deployments;

/// <summary>
/// /api/v1/deployments: create, list, show, change the split, promote, pause, resume, abort, history, delete.
/// A deployment belongs to its model's tenant; a caller sees only what it may see of the model (else 404).
/// </summary>
internal static class DeploymentEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("", CreateAsync).WithAuditAction("deployments.create");
        api.MapGet("", ListAsync);
        api.MapGet("/{name}", GetAsync);
        api.MapMethods("/{name}", ["PATCH", "PUT"], UpdateAsync).WithAuditAction("deployments.update");
        api.MapDelete("/{name}", DeleteAsync).WithAuditAction("deployments.delete");
        api.MapGet("/{name}/history", HistoryAsync);
        foreach (var action in new[] { "promote", "pause", "resume", "abort" })
        {
            api.MapPost("/{name}:" + action, (string name, HttpContext context, DeploymentService service) => ActAsync(name, action, context, service))
                .WithAuditAction("deployments." + action);
        }
    }

    private static async Task<IResult> CreateAsync(HttpContext context, DeploymentService service)
    {
        var body = await ApiRequests.ReadJsonAsync<CreateDeploymentRequest>(context.Request, context.RequestAborted);
        if (string.IsNullOrEmpty(body.Model))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_model", "model is required: the name of the model to deploy");
        }

        var access = await context.CheckModelAccessAsync(body.Model, write: true, context.RequestAborted);
        var key = access.Result switch
        {
            ModelAccessResult.Allowed when access.Key is { } k && !access.Reference.Contains(':', StringComparison.Ordinal) && access.Reference == k => k,
            ModelAccessResult.Allowed or ModelAccessResult.Missing => throw new ApiException(StatusCodes.Status400BadRequest, "invalid_model",
                $"model must be a model's name ('name' or 'tenant/name'), without an alias or version: '{RegistryNames.Shorten(body.Model)}'"),
            ModelAccessResult.ReadOnly => throw new ApiException(StatusCodes.Status403Forbidden, "model_read_only",
                $"model '{RegistryNames.Shorten(body.Model)}' is shared by another tenant: it can be called, not deployed"),
            _ => throw (access.NotFoundHint is { } hint ? RegistryException.NotFound("model_not_found", hint) : RegistryException.ModelNotFound(body.Model)),
        };
        context.Usage().ReportModel(key, null);
        var created = await service.CreateAsync(key, body.Name, new DeploymentSpec(body.Traffic, body.Shadow, body.Sticky, body.Plan), Actor(context), context.RequestAborted);
        context.Usage().AuditTarget = $"{created.Tenant}/{created.Name}";
        var response = DeploymentResponse.From(created, context, service.Metrics());
        context.Response.Headers.ETag = ETag(created);
        return new ModelEndpoints.CreatedAt(response.Url, Results.Json(response, RegistryJson.Options, statusCode: StatusCodes.Status201Created));
    }

    private static async Task<IResult> ListAsync(HttpContext context, DeploymentService service)
    {
        var caller = context.GetCaller();
        var tenant = caller is { IsAdmin: false } ? caller.Tenant : context.Request.Query["tenant"].ToString() is { Length: > 0 } t ? t : null;
        var visible = new List<DeploymentResponse>();
        foreach (var d in await service.Store.ListAsync(tenant, context.RequestAborted))
        {
            if ((await context.CheckModelKeyAccessAsync(d.Model, write: false, context.RequestAborted)).Result != ModelAccessResult.Hidden)
            {
                visible.Add(DeploymentResponse.From(d, context, service.Metrics()));
            }
        }

        return Results.Json(new { deployments = visible }, RegistryJson.Options);
    }

    private static async Task<IResult> GetAsync(string name, HttpContext context, DeploymentService service)
    {
        var deployment = await FindAsync(name, write: false, context, service);
        context.Response.Headers.ETag = ETag(deployment);
        return Results.Json(DeploymentResponse.From(deployment, context, service.Metrics()), RegistryJson.Options);
    }

    private static async Task<IResult> UpdateAsync(string name, HttpContext context, DeploymentService service)
    {
        var deployment = await FindAsync(name, write: true, context, service);
        var body = await ApiRequests.ReadJsonAsync<UpdateDeploymentRequest>(context.Request, context.RequestAborted);
        if (body.Traffic is null && body.Shadow is null && body.Sticky is null && body.Plan is null)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_json", "give at least one of traffic, shadow, sticky or plan");
        }

        var updated = await service.UpdateAsync(deployment, new DeploymentSpec(body.Traffic, body.Shadow, body.Sticky, body.Plan), IfMatch(context), Actor(context),
            context.RequestAborted);
        context.Response.Headers.ETag = ETag(updated);
        return Results.Json(DeploymentResponse.From(updated, context, service.Metrics()), RegistryJson.Options);
    }

    private static async Task<IResult> ActAsync(string name, string action, HttpContext context, DeploymentService service)
    {
        var deployment = await FindAsync(name, write: true, context, service);
        int? version = null;
        if (action == "promote" && (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0))
        {
            version = (await ApiRequests.ReadJsonAsync<PromoteRequest>(context.Request, context.RequestAborted)).Version;
            if (version is < 1)
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "invalid_version", $"version must be a version number (1, 2, ...), not {version}");
            }
        }

        var changed = await service.ActAsync(deployment, action, version, IfMatch(context), Actor(context), context.RequestAborted);
        context.Response.Headers.ETag = ETag(changed);
        return Results.Json(DeploymentResponse.From(changed, context, service.Metrics()), RegistryJson.Options);
    }

    private static async Task<IResult> HistoryAsync(string name, HttpContext context, DeploymentService service)
    {
        var deployment = await FindAsync(name, write: false, context, service);
        var limit = ApiRequests.OptionalInt(context.Request.Query["limit"], "limit") ?? 100;
        if (limit is < 1 or > DeploymentService.MaxHistory)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_query", $"limit must be 1 to {DeploymentService.MaxHistory}");
        }

        var history = await service.Store.HistoryAsync(deployment.Tenant, deployment.Name, limit, context.RequestAborted);
        return Results.Json(
            new
            {
                name = deployment.Name,
                history = history.Select(h => new
                {
                    at = h.At,
                    actor = h.Actor,
                    action = h.Action,
                    reason = h.Reason,
                    state = DeploymentRules.StateName(h.State),
                    traffic = h.Traffic,
                    revision = h.Revision,
                }),
            },
            RegistryJson.Options);
    }

    private static async Task<IResult> DeleteAsync(string name, HttpContext context, DeploymentService service)
    {
        var deployment = await FindAsync(name, write: true, context, service);
        if (!await service.DeleteAsync(deployment, context.RequestAborted))
        {
            throw NotFound(name);
        }

        return Results.NoContent();
    }

    // "name" is the caller's tenant's deployment; "tenant/name" (or tenant%2Fname) another tenant's, for an admin.
    private static async Task<Deployment> FindAsync(string name, bool write, HttpContext context, DeploymentService service)
    {
        var text = ModelKeys.UnescapeSlash(name);
        var caller = context.GetCaller();
        var tenant = context.CallerTenant();
        var shortName = text;
        if (text.IndexOf('/', StringComparison.Ordinal) is var slash and > 0)
        {
            tenant = text[..slash];
            shortName = text[(slash + 1)..];
        }

        if (!RegistryNames.IsValidName(shortName) || !RegistryNames.IsValidName(tenant) || (caller is { IsAdmin: false } && caller.Tenant != tenant))
        {
            throw NotFound(name);
        }

        var deployment = await service.Store.GetAsync(tenant, shortName, context.RequestAborted) ?? throw NotFound(name);
        var access = await context.CheckModelKeyAccessAsync(deployment.Model, write, context.RequestAborted);
        if (access.Result == ModelAccessResult.Hidden)
        {
            throw NotFound(name);
        }

        if (access.Result == ModelAccessResult.ReadOnly)
        {
            throw new ApiException(StatusCodes.Status403Forbidden, "model_read_only",
                $"deployment '{RegistryNames.Shorten(name)}' serves a model of another tenant: it can be read, not changed");
        }

        context.Usage().ReportModel(deployment.Model, null);
        context.Usage().AuditTarget = $"{deployment.Tenant}/{deployment.Name}";
        return deployment;
    }

    private static RegistryException NotFound(string name) =>
        RegistryException.NotFound("deployment_not_found", $"deployment '{RegistryNames.Shorten(ModelKeys.UnescapeSlash(name))}' does not exist");

    private static string Actor(HttpContext context) => context.GetCaller()?.Actor ?? "anonymous";

    private static string ETag(Deployment deployment) => $"\"{deployment.Revision.ToString(CultureInfo.InvariantCulture)}\"";

    private static long? IfMatch(HttpContext context)
    {
        if (context.Request.Headers.IfMatch.ToString() is not { Length: > 0 } match)
        {
            return null;
        }

        return EntityTagHeaderValue.TryParse(match, out var tag) && long.TryParse(tag.Tag.Value?.Trim('"'), NumberStyles.None, CultureInfo.InvariantCulture, out var revision)
            ? revision
            : throw new ApiException(StatusCodes.Status400BadRequest, "invalid_precondition",
                $"If-Match must be the deployment's ETag (e.g. \"3\"), not '{RegistryNames.Shorten(match)}'");
    }
}
