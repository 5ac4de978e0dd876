using Maas.Core.Registry;
using Maas.Core.Tenancy;

namespace Maas.Server.Auth;

/// <summary>How endpoints reach the caller and the usage of their request.</summary>
public static class RequestUsageExtensions
{
    /// <summary>The request's usage (a discarding one when the request did not pass the auth gate).</summary>
    public static RequestUsage Usage(this HttpContext context) => context.Features.Get<RequestUsage>() ?? RequestUsage.Discard;

    /// <summary>The authenticated caller, or null (health probes, or no auth gate).</summary>
    public static Caller? GetCaller(this HttpContext context) => context.Features.Get<RequestUsage>()?.Caller;

    /// <summary>The caller's tenant ("default" when there is no caller).</summary>
    public static string CallerTenant(this HttpContext context) => context.GetCaller()?.Tenant ?? Tenant.DefaultName;

    /// <summary>True when the caller may see (and call) <paramref name="model"/>; list endpoints filter with this.</summary>
    public static bool CanSee(this HttpContext context, Model model) =>
        context.GetCaller() is not { } caller || caller.CanSee(model.Name, model.Owner, model.Visibility);

    /// <summary>
    /// Resolves and checks a model named in a request body (OpenAI "model", gRPC model_name) as the caller wrote it:
    /// anything but Allowed or ReadOnly must be answered exactly like a model that does not exist, and the request
    /// goes on with <see cref="ModelAccess.Reference"/> (the key), never with the caller's text.
    /// </summary>
    public static ValueTask<ModelAccess> CheckModelAccessAsync(this HttpContext context, string modelReference, bool write, CancellationToken cancellationToken) =>
        context.Features.Get<RequestUsage>() is { Models: { } models } usage
            ? models.CheckAsync(usage.Caller, modelReference, write, cancellationToken)
            : ValueTask.FromResult(Unchecked(modelReference));

    /// <summary>Checks a model already named by its key (an upload session's, an engine's, a metric series').</summary>
    public static ValueTask<ModelAccess> CheckModelKeyAccessAsync(this HttpContext context, string key, bool write, CancellationToken cancellationToken) =>
        context.Features.Get<RequestUsage>() is { Models: { } models } usage
            ? models.CheckKeyAsync(usage.Caller, key, write, cancellationToken)
            : ValueTask.FromResult(Unchecked(key));

    // Without the auth gate (in-process hosts): the text is taken as a key.
    private static ModelAccess Unchecked(string reference)
    {
        var text = ModelKeys.UnescapeSlash(reference);
        return ModelReference.TryParse(text, out var parsed)
            ? new ModelAccess(ModelAccessResult.Allowed, ModelKeys.Normalize(parsed.Model), (parsed with { Model = ModelKeys.Normalize(parsed.Model) }).ToString())
            : new ModelAccess(ModelAccessResult.Missing, null, reference);
    }
}
