using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Maas.Runtimes.Ggml.Native;

/// <summary>
/// A thread of its own at a higher nice value (lower priority) that runs the work handed to it: ggml computes a
/// training step on the calling thread and its worker threads inherit that thread's nice value, so training there
/// yields the cores to serving. Linux keeps the nice value per thread; elsewhere the thread runs at normal priority.
/// </summary>
internal sealed partial class NiceThread : IDisposable
{
    private const int PrioProcess = 0;

    private readonly BlockingCollection<Action> work = [];
    private readonly Thread thread;

    public NiceThread(string name, int nice)
    {
        thread = new Thread(() =>
        {
            // Raising one's own nice value needs no privilege; on Linux "0" is the calling thread, not the process.
            if (OperatingSystem.IsLinux())
            {
                _ = setpriority(PrioProcess, 0, nice);
            }

            // Named only once its nice value is set: whoever finds the thread by name sees the priority it runs at.
            Thread.CurrentThread.Name = name;

            foreach (var item in work.GetConsumingEnumerable())
            {
                item();
            }
        })
        {
            IsBackground = true,
        };
        thread.Start();
    }

    /// <summary>Runs <paramref name="function"/> on the thread and waits for its result (or its exception).</summary>
    public T Run<T>(Func<T> function)
    {
        T result = default!;
        ExceptionDispatchInfo? error = null;
        using var done = new ManualResetEventSlim();
        work.Add(() =>
        {
            try
            {
                result = function();
            }
            catch (Exception e)
            {
                error = ExceptionDispatchInfo.Capture(e);
            }
            finally
            {
                done.Set();
            }
        });
        done.Wait();
        error?.Throw();
        return result;
    }

    /// <summary>
    /// Runs <paramref name="there"/> on the thread while <paramref name="here"/> runs on the caller, and returns when
    /// both are done (an exception of either is thrown after both finished).
    /// </summary>
    public void RunAlongside(Action there, Action here)
    {
        ExceptionDispatchInfo? error = null;
        using var done = new ManualResetEventSlim();
        work.Add(() =>
        {
            try
            {
                there();
            }
            catch (Exception e)
            {
                error = ExceptionDispatchInfo.Capture(e);
            }
            finally
            {
                done.Set();
            }
        });
        try
        {
            here();
        }
        finally
        {
            done.Wait();
        }

        error?.Throw();
    }

    public void Dispose()
    {
        work.CompleteAdding();
        thread.Join();
        work.Dispose();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setpriority(int which, int who, int prio);
}
