using Maas.Core.Hosting;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Registry;

namespace Maas.Server.ModelHosting;

/// <summary>
/// Explicit model control, after Triton's: <c>POST /api/v1/loaded-models/{model}/versions/{n}:load</c> loads a version
/// now (clearing an earlier unload) and <c>:unload</c> unloads it and keeps it unloaded until loaded again. The
/// caller needs <c>models:write</c> on a model it owns, or an admin key (the auth layer checks both).
/// </summary>
internal static class ModelControlEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var control = app.MapGroup("/api/v1/loaded-models").WithTags("Models").WithApiErrors().RequireScope(MaasScopes.ModelsWrite);
        control.WaitForRegistry();
        control.MapPost("/{model}/versions/{version}:load", LoadAsync);
        control.MapPost("/{model}/versions/{version}:unload", UnloadAsync);
    }

    private static async Task<IResult> LoadAsync(string model, string version, HttpContext context, ModelHost host, IModelRegistry registry,
        IEnumerable<IHostedModelSource> sources)
    {
        var request = await RequestAsync(model, version, forLoad: true, context, host, registry, sources);
        HostedModelStatus state;
        try
        {
            state = await host.EnsureLoadedAsync(request, context.RequestAborted);
        }
        catch (ModelHostException ex)
        {
            throw ex.Kind switch
            {
                ModelHostErrorKind.DoesNotFit => new ApiException(StatusCodes.Status507InsufficientStorage, "memory_budget_exceeded", ex.Message, Limits(ex)),
                ModelHostErrorKind.QuotaExceeded => new ApiException(StatusCodes.Status507InsufficientStorage, "memory_quota_exceeded", ex.Message, Limits(ex)),
                ModelHostErrorKind.ShuttingDown => new ApiException(StatusCodes.Status503ServiceUnavailable, "shutting_down", ex.Message),
                _ => new ApiException(StatusCodes.Status503ServiceUnavailable, "model_load_failed", ex.Message),
            };
        }

        return Results.Json(LoadedModelsEndpoint.Describe(state, context.GetCaller()?.Tenant));
    }

    private static async Task<IResult> UnloadAsync(string model, string version, HttpContext context, ModelHost host, IModelRegistry registry,
        IEnumerable<IHostedModelSource> sources)
    {
        var request = await RequestAsync(model, version, forLoad: false, context, host, registry, sources);
        host.Hold(request); // even when not loaded now: no request may load it until an operator loads it again
        var state = await host.UnloadAsync(request.Key, hold: true, context.RequestAborted);
        return Results.Json(LoadedModelsEndpoint.Describe(state!, context.GetCaller()?.Tenant));
    }

    // The version from the registry (404 when the caller may not see it), and how its engine loads it.
    private static async Task<ModelLoadRequest> RequestAsync(
        string model, string version, bool forLoad, HttpContext context, ModelHost host, IModelRegistry registry, IEnumerable<IHostedModelSource> sources)
    {
        var found = await registry.GetVersionAsync(ModelKeys.UnescapeSlash(model), ApiRequests.Version(version), context.RequestAborted);
        var key = new ModelKey(found.Model, found.Version);
        foreach (var source in sources)
        {
            if (await source.OperatorRequestAsync(key, found.Format, forLoad, context.RequestAborted) is { } request)
            {
                return request;
            }
        }

        throw new ApiException(StatusCodes.Status409Conflict, "no_engine",
            $"model '{found.Model}' version {found.Version} is {found.Format.ToString().ToLowerInvariant()}, which no engine of this server loads"
            + (host.CanLoad(found.Format) ? " (its serving feature is off)" : ""));
    }

    private static Dictionary<string, object?> Limits(ModelHostException ex) => new()
    {
        ["limit_bytes"] = ex.LimitBytes,
        ["used_bytes"] = ex.UsedBytes,
    };
}
