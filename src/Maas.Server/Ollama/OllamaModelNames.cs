using System.Globalization;
using Maas.Core.Llm;
using Maas.Core.Registry;
using Maas.Server.Auth;

namespace Maas.Server.Ollama;

/// <summary>
/// Ollama's <c>name:tag</c> in MaaS terms. The tag names an alias of the model when the model has an alias of that name;
/// otherwise <c>latest</c> is the model's default (what a plain name serves: its production alias, else its newest
/// ready version) and a number N is version N. No tag is <c>latest</c>. <c>owner/name:tag</c> names another tenant's
/// shared model, as on /v1.
/// </summary>
internal static class OllamaModelNames
{
    /// <summary>The tag Ollama clients add to a name without one.</summary>
    public const string Latest = "latest";

    /// <summary>
    /// The MaaS reference (<c>name</c>, <c>name:alias</c> or <c>name/versions/N</c>) that <paramref name="model"/>
    /// names for this caller; a model the caller may not see, or a tag that is neither alias nor version, is 404.
    /// </summary>
    public static async Task<string> ResolveAsync(HttpContext context, IModelRegistry registry, string model, CancellationToken cancellationToken)
    {
        var (name, tag) = Split(model);
        if (tag is null)
        {
            return name;
        }

        var access = await context.CheckModelAccessAsync(name, write: false, cancellationToken);
        if (access.Result == ModelAccessResult.Hidden || access.Key is null)
        {
            throw NotFound(model, access.NotFoundHint);
        }

        IReadOnlyList<ModelAlias> aliases;
        try
        {
            aliases = await registry.ListAliasesAsync(access.Key, cancellationToken);
        }
        catch (RegistryException ex)
        {
            // Deleted meanwhile (404), or the registry cannot be read now (503), as /v1 answers either.
            throw ex.Kind == RegistryErrorKind.NotFound ? NotFound(model, null) : OpenAi.OpenAiErrors.FromRegistry(ex, Shorten(model));
        }

        if (aliases.Any(a => a.Name == tag))
        {
            return $"{name}:{tag}";
        }

        if (tag == Latest)
        {
            return name;
        }

        if (int.TryParse(tag, NumberStyles.None, CultureInfo.InvariantCulture, out var version) && version > 0)
        {
            // Looked up here so that a version the model lacks is named as the caller wrote it ('gen:9'), not by the
            // reference it maps to ('gen/versions/9'), which the caller never sent.
            try
            {
                await registry.ResolveAsync(new ModelReference(access.Key, Version: version), cancellationToken);
            }
            catch (RegistryException ex)
            {
                throw OpenAi.OpenAiErrors.FromRegistry(ex, Shorten(model));
            }

            return $"{name}/versions/{version.ToString(CultureInfo.InvariantCulture)}";
        }

        throw new LlmException(
            LlmErrorKind.NotFound,
            $"model '{Shorten(model)}' not found: the tag '{Shorten(tag)}' is neither an alias of the model nor a version number (use 'latest', an alias, or a " +
            $"version such as '{name}:1')",
            "model",
            "model_not_found");
    }

    /// <summary>The name and the tag (null when none) of an Ollama model name.</summary>
    public static (string Name, string? Tag) Split(string model)
    {
        var slash = model.LastIndexOf('/');
        var colon = model.LastIndexOf(':');
        return colon > slash && colon > 0 ? (model[..colon], model[(colon + 1)..]) : (model, null);
    }

    private static LlmException NotFound(string model, string? hint) =>
        new(LlmErrorKind.NotFound, hint ?? $"model '{Shorten(model)}' not found", "model", "model_not_found");

    private static string Shorten(string text) => RegistryNames.Shorten(text);
}
