namespace Maas.Runtimes.Llama.Serving;

/// <summary>Tests only: a decode loop held before its next step (<see cref="LlamaEngine.PauseSteps"/>) until <see cref="Resume"/>.</summary>
internal sealed class StepPause : IDisposable
{
    private readonly LlamaScheduler _scheduler;
    private readonly TaskCompletionSource _resumed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StepPause(LlamaScheduler scheduler, TimeSpan ceiling)
    {
        _scheduler = scheduler;
        scheduler.BeforeStep = () => _resumed.Task.Wait(ceiling);
    }

    /// <summary>Lets the loop go on (and every later step run unpaused).</summary>
    public void Resume()
    {
        _scheduler.BeforeStep = null;
        _resumed.TrySetResult();
    }

    public void Dispose() => Resume();
}
