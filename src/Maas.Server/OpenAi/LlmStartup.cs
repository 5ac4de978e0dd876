using Maas.Core.Llm;
using Maas.Core.Registry;
using Maas.Server.Hosting;
using Maas.Server.OpenAi.Demo;
using Microsoft.Extensions.Options;

namespace Maas.Server.OpenAi;

/// <summary>LLM serving's start-up: seeds the demo LLM on a first start (loading at start and unloads are the model host's).</summary>
internal sealed class LlmStartup(
    IModelRegistry registry,
    IOptions<LlmServingOptions> options,
    IOptions<MaasOptions> maas,
    FirstCallHint hint,
    IHostApplicationLifetime lifetime,
    ILogger<LlmStartup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.Demo)
        {
            return;
        }

        try
        {
            if (await LlmDemoModel.SeedAsync(registry, maas.Value.DataDir, cancellationToken))
            {
                // Said once the listener is up: its real address and the admin key's header are known then.
                lifetime.ApplicationStarted.Register(() => logger.LogInformation(
                    "First start: registered the plumbing-demo LLM '{Model}' (random weights, gibberish answers). Try: curl -N {Authorization} {Address}/v1/chat/completions "
                    + "-H 'Content-Type: application/json' -d " +
                        "'{{\"model\":\"{Model}\",\"stream\":true,\"max_tokens\":32,\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}]}}'",
                    LlmDemoModel.Name,
                    hint.AuthorizationHeader(),
                    hint.Address(),
                    LlmDemoModel.Name));
            }
        }
        catch (Exception ex) when (ex is RegistryException or IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(ex, "Registering the demo LLM failed; the server runs without it");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
