using Maas.Core.Formats;
using Maas.Core.Llm;
using Maas.Core.Registry;
using Maas.Server.Hosting;
using Maas.Server.OpenAi.Demo;
using Microsoft.Extensions.Options;

namespace Maas.Server.OpenAi;

/// <summary>LLM serving's start-up: seeds the demo LLM on a first start, loads models marked load-at-start, unloads deleted ones.</summary>
internal sealed class LlmStartup(
    IModelRegistry registry,
    LlmEngineManager manager,
    LlmModelResolver resolver,
    IOptions<LlmServingOptions> options,
    IOptions<MaasOptions> maas,
    IServiceProvider services,
    IHostApplicationLifetime lifetime,
    ILogger<LlmStartup> logger,
    Maas.Server.Health.MustLoadModels? mustLoad = null) : IHostedService
{
    private readonly CancellationTokenSource _stopping = new();

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        manager.EngineChanged += (spec, loaded) =>
            logger.LogInformation("LLM {Model} version {Version} {State} ({Slots} slots x {Context} tokens)", spec.Name, spec.Version, loaded ? "loaded" : "unloaded", spec.Slots, spec.ContextPerSlot);
        registry.Changed += OnRegistryChanged;
        if (options.Value.Demo)
        {
            try
            {
                if (await LlmDemoModel.SeedAsync(registry, maas.Value.DataDir, cancellationToken))
                {
                    // Said once the listener is up: its real address and the admin key's header are known then.
                    lifetime.ApplicationStarted.Register(() => logger.LogInformation(
                        "First start: registered the plumbing-demo LLM '{Model}' (random weights, gibberish answers). Try: curl -N {Authorization} {Address}/v1/chat/completions "
                        + "-H 'Content-Type: application/json' -d '{{\"model\":\"{Model}\",\"stream\":true,\"max_tokens\":32,\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}]}}'",
                        LlmDemoModel.Name,
                        FirstCallHint.AuthorizationHeader(services),
                        FirstCallHint.Address(services),
                        LlmDemoModel.Name));
                }
            }
            catch (Exception ex) when (ex is RegistryException or IOException or UnauthorizedAccessException)
            {
                logger.LogWarning(ex, "Registering the demo LLM failed; the server runs without it");
            }
        }

        // Readiness waits for the load-at-start LLMs (registered now, before the listener opens).
        var readiness = mustLoad?.Begin("llm");
        _ = Task.Run(() => LoadAtStartAsync(readiness, _stopping.Token), CancellationToken.None);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        registry.Changed -= OnRegistryChanged;
        await _stopping.CancelAsync();
    }

    private async Task LoadAtStartAsync(Maas.Server.Health.MustLoadModels.Loader? readiness, CancellationToken cancellationToken)
    {
        try
        {
            var page = await registry.ListModelsAsync(new ModelQuery { Format = ModelFormat.Gguf, Limit = 1000 }, cancellationToken);
            var marked = page.Models.Where(m => m.ServingConfig.LoadAtStart == true).ToArray();
            readiness?.Expect(marked.Select(m => m.Key), name => manager.Loaded().Any(l => l.Name == name));
            foreach (var model in marked)
            {
                try
                {
                    var resolved = await resolver.ResolveAsync(model.Key, cancellationToken);
                    using var lease = await manager.AcquireAsync(resolved.Spec, resolved.KeepAlive, cancellationToken);
                    readiness?.Loaded(model.Key);
                }
                catch (LlmException ex)
                {
                    logger.LogWarning("LLM {Model} is configured to load at start but did not: {Reason}", model.Key, ex.Message);
                    readiness?.Failed(model.Key, ex.Message);
                }
            }
        }
        catch (Exception ex) when (ex is RegistryException or OperationCanceledException)
        {
            // Shutting down, or the registry is unavailable: models load on first use instead.
            readiness?.ListingFailed(ex.Message);
        }
    }

    private void OnRegistryChanged(object? sender, RegistryChange change)
    {
        if (change.Kind is not (RegistryChangeKind.VersionDeleted or RegistryChangeKind.ModelDeleted))
        {
            return;
        }

        // A busy engine keeps serving its running requests and goes with its keep-alive.
        foreach (var loaded in manager.Loaded().Where(l => l.Name == change.Model && (change.Version is null || change.Version == l.Version)))
        {
            _ = manager.TryUnloadAsync(loaded.Name, loaded.Version);
        }
    }
}
