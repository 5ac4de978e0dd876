using Maas.Core.Llm;
using Maas.Runtimes.Llama.Serving;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Support;

/// <summary>Pauses the decode loop of a language model the server has loaded (<see cref="LlamaEngine.PauseSteps"/>).</summary>
internal static class EnginePause
{
    /// <summary>
    /// Holds the loaded engine of <paramref name="model"/> (its one loaded version) before its next step until the
    /// pause is resumed or disposed: a generation the test started cannot end before the test's next steps (a queue
    /// filling behind it, a client going away), however fast or busy the host.
    /// </summary>
    public static StepPause Of(MaasTestServer server, string model)
    {
        var loaded = server.Services.GetRequiredService<LlmEngineManager>().Loaded().Single(e => e.Name == model);
        var engine = loaded.Engine as LlamaEngine
            ?? throw new InvalidOperationException($"model '{model}' runs on {loaded.Engine.GetType().Name}, not llama.cpp's engine");
        return engine.PauseSteps(Maas.Testing.Conditions.Ceiling);
    }
}
