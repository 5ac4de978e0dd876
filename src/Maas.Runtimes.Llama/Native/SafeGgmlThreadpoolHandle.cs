using Microsoft.Win32.SafeHandles;

namespace Maas.Runtimes.Llama.Native;

/// <summary>
/// Owns a <c>ggml_threadpool</c>: worker threads that live as long as the pool and wait (briefly spinning) between
/// graph computations, instead of ggml starting and joining fresh threads for every decode.
/// </summary>
/// <remarks>A context the pool is attached to holds a reference, so the pool is freed only after that context.</remarks>
internal sealed unsafe class SafeGgmlThreadpoolHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    /// <summary>GGML_MAX_N_THREADS: the most workers a pool may have.</summary>
    public const int MaxThreads = 512;

    private NativeApi.ThreadpoolFunctions? functions;

    public SafeGgmlThreadpoolHandle()
        : base(ownsHandle: true)
    {
    }

    /// <summary>Starts a pool of <paramref name="threads"/> workers; null when the CPU backend offers no pools or refused.</summary>
    /// <param name="threads">Workers (the calling thread of a computation is worker 0).</param>
    /// <param name="paused">Start paused (a pool that waits while a sibling pool computes).</param>
    /// <param name="poll">Busy-wait level between computations, 0 to 100 (ggml's default is 50).</param>
    public static SafeGgmlThreadpoolHandle? Create(int threads, bool paused = false, uint poll = 50)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(threads, MaxThreads);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(poll, 100u);
        var functions = NativeApi.Threadpools();
        if (functions is null)
        {
            return null;
        }

        GgmlThreadpoolParams parameters;
        NativeApi.ggml_threadpool_params_init(&parameters, threads);
        parameters.Paused = paused ? (byte)1 : (byte)0;
        parameters.Poll = poll;
        var raw = functions.Create(&parameters);
        if (raw == IntPtr.Zero)
        {
            return null;
        }

        var pool = new SafeGgmlThreadpoolHandle { functions = functions };
        pool.SetHandle(raw);
        return pool;
    }

    protected override bool ReleaseHandle()
    {
        functions!.Free(handle);
        return true;
    }
}
