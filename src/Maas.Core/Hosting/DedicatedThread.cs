namespace Maas.Core.Hosting;

/// <summary>
/// Blocking work (a model's load, a training job) on a thread of its own. The thread pool starts with as many threads as
/// cores and adds one only every half second while all are held, so a load of several seconds on a pool thread of a
/// two-core server would delay every request behind it by that much.
/// </summary>
public static class DedicatedThread
{
    /// <summary>Runs <paramref name="work"/> on a new background thread named <paramref name="name"/>; its result or exception completes the task.</summary>
    public static Task<T> Run<T>(string name, Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                done.SetResult(work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = name,
        };
        thread.Start();
        return done.Task;
    }
}
