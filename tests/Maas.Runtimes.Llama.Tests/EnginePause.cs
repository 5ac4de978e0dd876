using Maas.Runtimes.Llama.Serving;

namespace Maas.Runtimes.Llama.Tests;

/// <summary>
/// Pauses an engine's decode loop before its next step until <see cref="Resume"/>: while paused no generation moves,
/// so one the test started cannot end before the test's next steps, however fast or busy the host.
/// </summary>
internal sealed class EnginePause : IDisposable
{
    private readonly LlamaEngine _engine;
    private readonly TaskCompletionSource _resumed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public EnginePause(LlamaEngine engine)
    {
        _engine = engine;

        // A ceiling far past any test's pause, so a failed test cannot leave the loop stopped for good.
        engine.SetBeforeStep(() => _resumed.Task.Wait(Maas.Testing.Conditions.Ceiling));
    }

    /// <summary>Lets the loop go on (and every later step run unpaused).</summary>
    public void Resume()
    {
        _engine.SetBeforeStep(null);
        _resumed.TrySetResult();
    }

    public void Dispose() => Resume();
}
