using System.Text.Json;
using Maas.Core.Formats;
using Maas.Core.Registry;
using Maas.Server.Auth;

namespace Maas.Server.OpenAi;

/// <summary><c>GET /v1/models</c> and <c>GET /v1/models/{model}</c>: the registry's GGUF models, and each alias as <c>name:alias</c>.</summary>
internal static class ModelsEndpoint
{
    public static async Task ListAsync(HttpContext context, IModelRegistry registry, ILoggerFactory loggers)
    {
        var aborted = context.RequestAborted;
        await OpenAiEndpoint.RunAsync(context, loggers, async () =>
        {
            var entries = new List<(string Id, Model Model)>();
            for (var offset = 0; ; offset += 500)
            {
                var page = await registry.ListModelsAsync(new ModelQuery { Format = ModelFormat.Gguf, Limit = 500, Offset = offset }, aborted);
                foreach (var model in page.Models.Where(context.CanSee))
                {
                    // Ids are what this caller sends back as "model": short for its own tenant's, owner/name for others.
                    var id = ModelKeys.RelativeTo(model.Key, context.CallerTenant());
                    entries.Add((id, model));
                    try
                    {
                        foreach (var alias in await registry.ListAliasesAsync(model.Key, aborted))
                        {
                            entries.Add(($"{id}:{alias.Name}", model));
                        }
                    }
                    catch (RegistryException)
                    {
                        // Deleted while we listed.
                    }
                }

                if (page.Models.Count < 500)
                {
                    break;
                }
            }

            await WriteAsync(context, json =>
            {
                json.WriteStartObject();
                json.WriteString("object", "list");
                json.WriteStartArray("data");
                foreach (var (id, model) in entries)
                {
                    WriteModel(json, id, model);
                }

                json.WriteEndArray();
                json.WriteEndObject();
            });
        });
    }

    public static async Task GetAsync(HttpContext context, string model, LlmModelResolver resolver, ILoggerFactory loggers)
    {
        await OpenAiEndpoint.RunAsync(context, loggers, async () =>
        {
            // The auth gate resolved the route's model to its key (and answered 404 for one the caller may not see).
            var resolved = await resolver.ResolveAsync(model, context.RequestAborted);
            var id = ModelReference.TryParse(model, out var reference)
                ? (reference with { Model = ModelKeys.RelativeTo(reference.Model, context.CallerTenant()) }).ToString()
                : model;
            await WriteAsync(context, json => WriteModel(json, id, resolved.Model));
        });
    }

    private static void WriteModel(Utf8JsonWriter json, string id, Model model)
    {
        json.WriteStartObject();
        json.WriteString("id", id);
        json.WriteString("object", "model");
        json.WriteNumber("created", model.CreatedAt.ToUnixTimeSeconds());
        json.WriteString("owned_by", model.Owner);
        json.WriteEndObject();
    }

    private static async Task WriteAsync(HttpContext context, Action<Utf8JsonWriter> write)
    {
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(OpenAiJson.Build(write).WrittenMemory, context.RequestAborted);
    }
}
