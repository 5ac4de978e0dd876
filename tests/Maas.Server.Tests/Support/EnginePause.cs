using Maas.Core.Llm;
using Maas.Runtimes.Llama.Serving;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Support;

/// <summary>
/// Pauses the decode loop of a language model the server has loaded, before its next step, until <see cref="Resume"/>:
/// while paused no generation moves, so a generation the test started cannot end before the test's next steps (a
/// queue filling behind it, a client going away), however fast or busy the host.
/// </summary>
internal sealed class EnginePause : IDisposable
{
    private readonly LlamaEngine _engine;
    private readonly TaskCompletionSource _resumed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private EnginePause(LlamaEngine engine)
    {
        _engine = engine;

        // A ceiling far past any test's pause, so a failed test cannot leave the loop stopped for good.
        engine.SetBeforeStep(() => _resumed.Task.Wait(Maas.Testing.Conditions.Ceiling));
    }

    /// <summary>Pauses the loaded engine of <paramref name="model"/> (the one loaded version of it).</summary>
    public static EnginePause Of(MaasTestServer server, string model)
    {
        var loaded = server.Services.GetRequiredService<LlmEngineManager>().Loaded().Single(e => e.Name == model);
        return new EnginePause(loaded.Engine as LlamaEngine
            ?? throw new InvalidOperationException($"model '{model}' runs on {loaded.Engine.GetType().Name}, not llama.cpp's engine"));
    }

    /// <summary>Lets the loop go on (and every later step run unpaused).</summary>
    public void Resume()
    {
        _engine.SetBeforeStep(null);
        _resumed.TrySetResult();
    }

    public void Dispose() => Resume();
}
