using System.Globalization;
using System.Text.Json;
using Maas.Core.Formats;
using Maas.Core.Hosting;
using Maas.Core.Llm;
using Maas.Core.Registry;
using Maas.Server.Auth;
using Maas.Server.OpenAi;
using Microsoft.Extensions.Options;

namespace Maas.Server.Ollama;

/// <summary>
/// <c>GET /api/tags</c> (the GGUF models the caller may use, each as <c>name:latest</c> and <c>name:alias</c>),
/// <c>POST /api/show</c> (one of them in detail), <c>GET /api/ps</c> (the loaded ones, as <c>name:version</c>) and
/// <c>GET /api/version</c>.
/// </summary>
internal static class OllamaModelEndpoints
{
    private const int Page = 500;

    public static async Task TagsAsync(HttpContext context, IModelRegistry registry, ILoggerFactory loggers)
    {
        var aborted = context.RequestAborted;
        await OllamaEndpoint.RunAsync(context, loggers, async () =>
        {
            var entries = new List<(string Name, ModelVersion Version, DateTimeOffset Modified)>();
            for (var offset = 0; ; offset += Page)
            {
                var page = await registry.ListModelsAsync(new ModelQuery { Format = ModelFormat.Gguf, Limit = Page, Offset = offset }, aborted);
                foreach (var model in page.Models.Where(context.CanSee))
                {
                    // Names are what this caller sends back: short for its own tenant's models, owner/name for others.
                    var id = ModelKeys.RelativeTo(model.Key, context.CallerTenant());
                    try
                    {
                        var aliases = await registry.ListAliasesAsync(model.Key, aborted);
                        if (aliases.All(a => a.Name != OllamaModelNames.Latest))
                        {
                            var latest = await registry.ResolveAsync(new ModelReference(model.Key), aborted);
                            entries.Add(($"{id}:{OllamaModelNames.Latest}", latest.Version, latest.Version.CreatedAt));
                        }

                        foreach (var alias in aliases)
                        {
                            var version = await registry.GetVersionAsync(model.Key, alias.Version, aborted);
                            entries.Add(($"{id}:{alias.Name}", version, alias.UpdatedAt > version.CreatedAt ? alias.UpdatedAt : version.CreatedAt));
                        }
                    }
                    catch (RegistryException)
                    {
                        // No ready version yet, or deleted while we listed.
                    }
                }

                if (page.Models.Count < Page)
                {
                    break;
                }
            }

            await OllamaEndpoint.WriteJsonAsync(context, json =>
            {
                json.WriteStartObject();
                json.WriteStartArray("models");
                foreach (var (name, version, modified) in entries)
                {
                    json.WriteStartObject();
                    WriteIdentity(json, name, version);
                    json.WriteString("modified_at", OllamaEndpoint.Timestamp(modified));
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteEndObject();
            });
        });
    }

    public static async Task ShowAsync(HttpContext context, IModelRegistry registry, IOptions<LlmServingOptions> options, ILoggerFactory loggers)
    {
        var aborted = context.RequestAborted;
        await OllamaEndpoint.RunAsync(context, loggers, async () =>
        {
            var body = await OpenAiRequestReader.ReadBodyAsync(context.Request, aborted);
            var model = OllamaRequestReader.Model(body);
            var reference = await OllamaModelNames.ResolveAsync(context, registry, model, aborted);
            var access = await context.CheckModelAccessAsync(reference, write: false, aborted);
            if (access.Result == ModelAccessResult.Hidden || !ModelReference.TryParse(access.Reference, out var parsed))
            {
                throw new LlmException(LlmErrorKind.NotFound, access.NotFoundHint ?? $"model '{RegistryNames.Shorten(model)}' not found", "model", "model_not_found");
            }

            ResolvedVersion resolved;
            try
            {
                resolved = await registry.ResolveAsync(parsed, aborted);
            }
            catch (RegistryException ex)
            {
                throw OpenAiErrors.FromRegistry(ex, RegistryNames.Shorten(model));
            }

            if (resolved.Version.Format != ModelFormat.Gguf)
            {
                throw new LlmException(LlmErrorKind.NotFound, $"model '{RegistryNames.Shorten(model)}' is not a language model (GGUF); serve it through /v2", "model",
                    "model_not_found");
            }

            var version = resolved.Version;
            var signature = version.Signature;
            var servedContext = resolved.Model.ServingConfig.ContextSize is > 0 and var c ? c : options.Value.ContextPerSlot;
            await OllamaEndpoint.WriteJsonAsync(context, json =>
            {
                json.WriteStartObject();
                json.WriteString("license", "");
                json.WriteString("modelfile", $"# Served by MaaS: {resolved.Model.Key} version {version.Version}\nFROM {model}\n");
                json.WriteString("parameters", $"num_ctx {servedContext.ToString(CultureInfo.InvariantCulture)}");
                json.WriteString("template", signature.ChatTemplate ?? "");
                WriteDetails(json, version);
                json.WriteStartObject("model_info");
                var arch = signature.Architecture ?? "";
                json.WriteString("general.architecture", arch);
                if (signature.ModelName is { } name)
                {
                    json.WriteString("general.name", name);
                }

                WriteOptional(json, "general.parameter_count", signature.ParameterCount);
                WriteOptional(json, arch + ".context_length", signature.ContextLength);
                WriteOptional(json, arch + ".embedding_length", signature.EmbeddingLength);
                WriteOptional(json, arch + ".block_count", signature.BlockCount);
                WriteOptional(json, arch + ".vocab_size", signature.VocabularySize);
                json.WriteEndObject();
                json.WriteStartArray("capabilities");
                json.WriteStringValue("completion");
                json.WriteStringValue("tools");
                json.WriteEndArray();
                json.WriteString("modified_at", OllamaEndpoint.Timestamp(version.CreatedAt));
                json.WriteEndObject();
            });
        });
    }

    public static async Task PsAsync(HttpContext context, LlmEngineManager manager, ModelHost host, IModelRegistry registry, TimeProvider time, ILoggerFactory loggers)
    {
        var aborted = context.RequestAborted;
        await OllamaEndpoint.RunAsync(context, loggers, async () =>
        {
            var statuses = host.Models().Where(s => s.Format == ModelFormat.Gguf).ToDictionary(s => s.Key);
            var entries = new List<(string Name, ModelVersion? Version, HostedModelStatus Status, LoadedLlmEngine Engine)>();
            foreach (var engine in manager.Loaded())
            {
                if (!statuses.TryGetValue(new ModelKey(engine.Name, engine.Version), out var status))
                {
                    continue;
                }

                // A caller sees the engines of the models it may see (admins all), as /api/v1/llm/engines.
                if (context.GetCaller() is not (null or { IsAdmin: true })
                    && (await context.CheckModelKeyAccessAsync(engine.Name, write: false, aborted)).Result != ModelAccessResult.Allowed)
                {
                    continue;
                }

                ModelVersion? version = null;
                try
                {
                    version = await registry.GetVersionAsync(engine.Name, engine.Version, aborted);
                }
                catch (RegistryException)
                {
                    // Deleted while loaded: still listed, without what the registry knew.
                }

                var name = $"{ModelKeys.RelativeTo(engine.Name, context.CallerTenant())}:{engine.Version.ToString(CultureInfo.InvariantCulture)}";
                entries.Add((name, version, status, engine));
            }

            var now = time.GetUtcNow();
            await OllamaEndpoint.WriteJsonAsync(context, json =>
            {
                json.WriteStartObject();
                json.WriteStartArray("models");
                foreach (var (name, version, status, engine) in entries)
                {
                    json.WriteStartObject();
                    json.WriteString("name", name);
                    json.WriteString("model", name);
                    json.WriteNumber("size", status.Memory?.AccountedBytes ?? version?.SizeBytes ?? 0);
                    json.WriteString("digest", version?.Sha256 ?? "");
                    if (version is not null)
                    {
                        WriteDetails(json, version);
                    }

                    // Pinned or without a keep-alive it stays; otherwise it goes that long after its last request.
                    var expires = status.Pinned || status.KeepAlive <= TimeSpan.Zero ? DateTimeOffset.MaxValue
                        : (status.InFlight > 0 ? now : status.LastUsed) + status.KeepAlive;
                    json.WriteString("expires_at", OllamaEndpoint.Timestamp(expires));
                    json.WriteNumber("size_vram", 0);
                    json.WriteNumber("context_length", engine.Engine.Info.ContextPerSlot);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteEndObject();
            });
        });
    }

    public static Task VersionAsync(HttpContext context) => OllamaEndpoint.WriteJsonAsync(context, json =>
    {
        json.WriteStartObject();
        json.WriteString("version", typeof(OllamaModelEndpoints).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");
        json.WriteEndObject();
    });

    // name, model, size, digest and details: what /api/tags and /api/ps say of each entry.
    private static void WriteIdentity(Utf8JsonWriter json, string name, ModelVersion version)
    {
        json.WriteString("name", name);
        json.WriteString("model", name);
        json.WriteNumber("size", version.SizeBytes);
        json.WriteString("digest", version.Sha256);
        WriteDetails(json, version);
    }

    private static void WriteDetails(Utf8JsonWriter json, ModelVersion version)
    {
        var signature = version.Signature;
        json.WriteStartObject("details");
        json.WriteString("parent_model", "");
        json.WriteString("format", "gguf");
        json.WriteString("family", signature.Architecture ?? "");
        json.WriteStartArray("families");
        if (signature.Architecture is { } arch)
        {
            json.WriteStringValue(arch);
        }

        json.WriteEndArray();
        json.WriteString("parameter_size", ParameterSize(signature.ParameterCount));
        json.WriteString("quantization_level", signature.Quantization ?? "");
        json.WriteEndObject();
    }

    /// <summary>A parameter count as model cards write it: 7.2B, 135M, 12K.</summary>
    public static string ParameterSize(long? count) => count switch
    {
        null => "",
        >= 1_000_000_000 => Scaled(count.Value / 1e9) + "B",
        >= 1_000_000 => Scaled(count.Value / 1e6) + "M",
        >= 1_000 => Scaled(count.Value / 1e3) + "K",
        _ => count.Value.ToString(CultureInfo.InvariantCulture),
    };

    private static string Scaled(double value) => value.ToString(value >= 100 ? "0" : "0.#", CultureInfo.InvariantCulture);

    private static void WriteOptional(Utf8JsonWriter json, string name, long? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, v);
        }
    }
}
