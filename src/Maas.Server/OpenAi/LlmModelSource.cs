using Maas.Core.Formats;
using Maas.Core.Hosting;
using Maas.Core.Llm;
using Maas.Core.Registry;

namespace Maas.Server.OpenAi;

/// <summary>The LLMs the model host loads at start (GGUF models marked load-at-start or pinned) and reloads after a configuration change.</summary>
internal sealed class LlmModelSource(IModelRegistry registry, LlmModelResolver resolver, ILogger<LlmModelSource> logger) : IHostedModelSource
{
    public string Name => "llm";

    public async Task<IReadOnlyList<ModelLoadRequest>> LoadAtStartAsync(CancellationToken cancellationToken)
    {
        var page = await registry.ListModelsAsync(new ModelQuery { Format = ModelFormat.Gguf, Limit = 1000 }, cancellationToken);
        var requests = new List<ModelLoadRequest>();
        foreach (var model in page.Models.Where(m => m.ServingConfig.LoadAtStart == true || m.ServingConfig.Pinned == true))
        {
            try
            {
                requests.Add((await resolver.ResolveAsync(model.Key, cancellationToken)).Request);
            }
            catch (LlmException ex)
            {
                logger.LogWarning("LLM {Model} is configured to load at start but cannot be resolved: {Reason}", model.Key, ex.Message);
            }
        }

        return requests;
    }

    public async Task<ModelLoadRequest?> RefreshRequestAsync(HostedModelStatus model, CancellationToken cancellationToken)
    {
        if (model.Format != ModelFormat.Gguf)
        {
            return null;
        }

        try
        {
            var reference = new ModelReference(model.Key.Name, Version: model.Key.Version);
            return (await resolver.ResolveAsync(reference, model.Key.Name, cancellationToken)).Request;
        }
        catch (LlmException)
        {
            return null; // gone from the registry; the deletion path unloads it
        }
    }

    public async Task<ModelLoadRequest?> OperatorRequestAsync(ModelKey key, ModelFormat format, bool forLoad, CancellationToken cancellationToken)
    {
        if (format != ModelFormat.Gguf)
        {
            return null;
        }

        try
        {
            return (await resolver.ResolveAsync(new ModelReference(key.Name, Version: key.Version), key.Name, cancellationToken)).Request;
        }
        catch (LlmException)
        {
            return null;
        }
    }
}
