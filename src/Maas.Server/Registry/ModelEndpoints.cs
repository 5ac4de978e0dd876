using Maas.Core.Deployments;
using Maas.Core.Formats;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Deployments;
using Maas.Server.Errors;

namespace Maas.Server.Registry;

/// <summary>Models: create, list and search, show, change, delete; serving configuration; reference resolution.</summary>
internal static class ModelEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/models", CreateAsync);
        api.MapGet("/models", ListAsync);
        api.MapGet("/models/{name}", GetAsync);
        api.MapMethods("/models/{name}", ["PATCH"], UpdateAsync);
        api.MapDelete("/models/{name}", DeleteAsync);
        api.MapGet("/models/{name}/config", GetConfigAsync);
        api.MapPut("/models/{name}/config", SetConfigAsync);
        api.MapGet("/resolve", ResolveAsync);
    }

    private static async Task<IResult> CreateAsync(HttpContext context, IModelRegistry registry, ITenancyStore tenants)
    {
        var body = await ApiRequests.ReadJsonAsync<CreateModelRequest>(context.Request, context.RequestAborted);
        if (string.IsNullOrEmpty(body.Name))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_name", "name is required");
        }

        // A model belongs to the caller's tenant; only an admin may create one for another tenant.
        var caller = context.GetCaller();
        var owner = string.IsNullOrEmpty(body.Owner) ? context.CallerTenant() : body.Owner;
        if (caller is { IsAdmin: false } && owner != caller.Tenant)
        {
            throw new ApiException(StatusCodes.Status403Forbidden, "insufficient_scope", "only an admin key may create a model for another tenant");
        }

        await ApiRequests.RequireTenantAsync(tenants, owner, context);

        if (caller is not null && !ModelPatterns.Allows(caller.Models, ModelKeys.Qualified(owner, body.Name)))
        {
            throw new ApiException(StatusCodes.Status403Forbidden, "model_not_allowed", $"this key may only use models matching {string.Join(", ", caller.Models)}");
        }

        var model = await registry.CreateModelAsync(
            new NewModel(
                body.Name,
                body.Description ?? "",
                body.Tags ?? [],
                string.IsNullOrEmpty(body.Task) ? null : body.Task, // "" is no task, as PATCH reads it
                ApiRequests.Visibility(body.Visibility) ?? ModelVisibility.Private,
                owner,
                ApiRequests.Caller(context)),
            context.RequestAborted);
        var response = ModelResponse.From(model, context.CallerTenant());
        return CreatedAt.Json(response.Url, response);
    }

    private static async Task<IResult> ListAsync(HttpContext context, IModelRegistry registry)
    {
        var query = context.Request.Query;
        ModelFormat? format = query["format"].ToString() switch
        {
            "" => null,
            "onnx" => ModelFormat.Onnx,
            "gguf" => ModelFormat.Gguf,
            var other => throw new ApiException(StatusCodes.Status400BadRequest, "invalid_query", $"format must be 'onnx' or 'gguf', not '{RegistryNames.Shorten(other)}'"),
        };
        var limit = ApiRequests.OptionalInt(query["limit"], "limit") ?? 100;
        var offset = ApiRequests.OptionalInt(query["offset"], "offset") ?? 0;
        var modelQuery = new ModelQuery
        {
            NameContains = query["q"].ToString() is { Length: > 0 } q ? q : query["name"].ToString() is { Length: > 0 } n ? n : null,
            Tags = query["tag"].Where(t => !string.IsNullOrEmpty(t)).Select(t => t!).ToArray(),
            Task = query["task"].ToString() is { Length: > 0 } task ? task : null,
            Owner = query["owner"].ToString() is { Length: > 0 } owner ? owner : null,
            VisibleTo = context.GetCaller() is { IsAdmin: false } caller ? caller.Tenant : null,
            Format = format,
            Limit = limit,
            Offset = offset,
        };
        var page = await registry.ListModelsAsync(modelQuery, context.RequestAborted);
        if (context.GetCaller() is { Models.Count: > 0 })
        {
            page = await PatternPageAsync(registry, modelQuery, context);
        }

        return Results.Json(
            new { models = page.Models.Where(context.CanSee).Select(m => ModelResponse.From(m, context.CallerTenant())).ToArray(), total = page.Total, limit, offset },
            RegistryJson.Options);
    }

    /// <summary>
    /// The page and total for a key limited to some models. Its patterns are not SQL, so the database's page would
    /// hold models the key may not see (short pages) and its total would count them; this pages what the key sees.
    /// </summary>
    private static async Task<ModelPage> PatternPageAsync(IModelRegistry registry, ModelQuery query, HttpContext context)
    {
        const int chunkSize = 1000;
        var visible = new List<Model>();
        for (var offset = 0; ; offset += chunkSize)
        {
            var chunk = await registry.ListModelsAsync(query with { Limit = chunkSize, Offset = offset }, context.RequestAborted);
            visible.AddRange(chunk.Models.Where(context.CanSee));
            if (chunk.Models.Count < chunkSize)
            {
                return new ModelPage(visible.Skip(query.Offset).Take(query.Limit).ToArray(), visible.Count);
            }
        }
    }

    private static async Task<IResult> GetAsync(string name, HttpContext context, IModelRegistry registry)
    {
        var model = await registry.GetModelAsync(name, context.RequestAborted);
        var versions = await registry.ListVersionsAsync(name, context.RequestAborted);
        var aliases = await registry.ListAliasesAsync(name, context.RequestAborted);
        return Results.Json(
            ModelResponse.From(model, context.CallerTenant()) with
            {
                Versions = versions.Select(VersionSummary.From).ToArray(),
                Aliases = aliases.Select(AliasResponse.From).ToArray(),
            },
            RegistryJson.Options);
    }

    private static async Task<IResult> UpdateAsync(string name, HttpContext context, IModelRegistry registry)
    {
        var body = await ApiRequests.ReadJsonAsync<UpdateModelRequest>(context.Request, context.RequestAborted);
        var model = await registry.UpdateModelAsync(
            name,
            new ModelUpdate(
                body.Description,
                body.Tags,
                string.IsNullOrEmpty(body.Task) ? null : body.Task,
                ApiRequests.Visibility(body.Visibility),
                ClearTask: body.TaskGiven && string.IsNullOrEmpty(body.Task)),
            context.RequestAborted);
        return Results.Json(ModelResponse.From(model, context.CallerTenant()), RegistryJson.Options);
    }

    private static async Task<IResult> DeleteAsync(string name, HttpContext context, IModelRegistry registry)
    {
        await registry.DeleteModelAsync(name, ApiRequests.Flag(context.Request.Query["force"], "force"), context.RequestAborted);
        return Results.NoContent();
    }

    private static async Task<IResult> GetConfigAsync(string name, HttpContext context, IModelRegistry registry)
    {
        var model = await registry.GetModelAsync(name, context.RequestAborted);
        return Results.Json(model.ServingConfig, RegistryJson.Options);
    }

    private static async Task<IResult> SetConfigAsync(string name, HttpContext context, IModelRegistry registry)
    {
        var config = await ApiRequests.ReadJsonAsync<ServingConfig>(context.Request, context.RequestAborted);
        var model = await registry.SetServingConfigAsync(name, config, context.RequestAborted);
        return Results.Json(model.ServingConfig, RegistryJson.Options);
    }

    private static async Task<IResult> ResolveAsync(HttpContext context, IModelRegistry registry, DeploymentRouter router)
    {
        var text = context.Request.Query["ref"].ToString();
        var reference = ModelReference.Parse(text);
        var access = await context.CheckModelAccessAsync(text, write: false, context.RequestAborted);
        if (access.Result == ModelAccessResult.Hidden)
        {
            throw access.NotFoundHint is { } hint ? RegistryException.NotFound("model_not_found", hint) : RegistryException.ModelNotFound(reference.Model);
        }

        // A plain name of a deployed model resolves as its calls do: to the deployment's primary version, not the
        // registry's default (which a call without a version no longer reaches).
        var target = ModelReference.Parse(access.Reference);
        var deployment = target is { Alias: null, Version: null } ? router.Find(target.Model) : null;
        var resolved = deployment is null
            ? await registry.ResolveAsync(target, context.RequestAborted)
            : await ResolveDeployedAsync(registry, deployment, context.RequestAborted);
        return Results.Json(
            new
            {
                reference = reference.ToString(),
                model = resolved.Model.Key,
                alias = resolved.Alias,
                version = await VersionEndpoints.ResponseAsync(context, resolved.Version, resolved.Model.ServingConfig),
                deployment = deployment is null ? null : ResolvedDeployment.From(deployment, context),
            },
            RegistryJson.Options);
    }

    private static async Task<ResolvedVersion> ResolveDeployedAsync(IModelRegistry registry, Deployment deployment, CancellationToken cancellationToken)
    {
        var model = await registry.GetModelAsync(deployment.Model, cancellationToken);
        var version = await registry.GetVersionAsync(deployment.Model, DeploymentRouter.PrimaryVersion(deployment), cancellationToken);
        return new ResolvedVersion(model, version, null);
    }

    /// <summary>
    /// The deployment a resolved plain name follows: every version its split routes calls to, and for a caller that
    /// may read the deployment (its tenant's keys and admins) its name, shares, stable version and URL. A deployment
    /// belongs to its tenant (another tenant's key cannot list, read or name it), so a tenant calling a model shared
    /// with it learns only the versions its calls may reach, which every answer's version header tells it anyway.
    /// </summary>
    internal sealed record ResolvedDeployment(string? Name, IReadOnlyList<int> Versions, IReadOnlyList<TrafficShare>? Traffic, int? Stable, string? Url)
    {
        public static ResolvedDeployment From(Deployment d, HttpContext context)
        {
            var caller = context.GetCaller();
            var own = caller is null || caller.IsAdmin || caller.Tenant == d.Tenant;
            if (!own)
            {
                return new ResolvedDeployment(null, DeploymentRouter.RoutedVersions(d), null, null, null);
            }

            var name = d.Tenant == context.CallerTenant() ? d.Name : $"{d.Tenant}/{d.Name}";
            return new ResolvedDeployment(
                name,
                DeploymentRouter.RoutedVersions(d),
                d.Traffic,
                d.Stable,
                "/api/v1/deployments/" + name.Replace("/", "%2F", StringComparison.Ordinal));
        }
    }

    /// <summary>A result with a Location header around another result.</summary>
    internal sealed class CreatedAt(string location, IResult inner) : IResult
    {
        /// <summary>201 with the JSON body and its Location.</summary>
        public static IResult Json(string location, object body) =>
            new CreatedAt(location, Results.Json(body, RegistryJson.Options, statusCode: StatusCodes.Status201Created));

        /// <summary>202 with the JSON body and a Location to poll.</summary>
        public static IResult Accepted(string location, object body) =>
            new CreatedAt(location, Results.Json(body, RegistryJson.Options, statusCode: StatusCodes.Status202Accepted));

        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.Location = location;
            return inner.ExecuteAsync(httpContext);
        }
    }
}
