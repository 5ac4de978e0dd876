namespace Maas.Runtimes.Ggml.Native;

/// <summary>ggml's CPU device as a backend with a scheduler, set to a number of threads.</summary>
internal sealed unsafe class GgmlCpuBackend : IDisposable
{
    private static readonly Lock Gate = new();
    private static bool backendsLoaded;

    private readonly delegate* unmanaged[Cdecl]<IntPtr, int, void> setThreads;

    private GgmlCpuBackend(SafeGgmlBackendHandle backend, SafeGgmlSchedHandle sched, delegate* unmanaged[Cdecl]<IntPtr, int, void> setThreads, int threads)
    {
        Backend = backend;
        Sched = sched;
        this.setThreads = setThreads;
        Threads = threads;
    }

    public SafeGgmlBackendHandle Backend { get; }

    public SafeGgmlSchedHandle Sched { get; }

    /// <summary>The threads the next graph computes with.</summary>
    public int Threads { get; private set; }

    /// <summary>Sets the threads of the graphs computed from now on (the backend reads it at each compute).</summary>
    public void SetThreads(int threads)
    {
        if (threads != Threads && setThreads != null)
        {
            setThreads(Backend.DangerousGetHandle(), threads);
            Threads = threads;
        }
    }

    /// <summary>Another scheduler over the same backend, for a graph that must keep its own allocation.</summary>
    public SafeGgmlSchedHandle NewSched(int graphSize)
    {
        var raw = Backend.DangerousGetHandle();
        return SafeGgmlSchedHandle.Wrap(GgmlApi.ggml_backend_sched_new(&raw, null, 1, (nuint)graphSize, false, false), "ggml_backend_sched_new");
    }

    /// <summary>A CPU backend using <paramref name="threads"/> threads, with a scheduler for graphs of up to <paramref name="graphSize"/> nodes.</summary>
    public static GgmlCpuBackend Create(int threads, int graphSize)
    {
        var device = CpuDevice();
        var backend = SafeGgmlBackendHandle.Wrap(GgmlApi.ggml_backend_dev_init(device, null), "ggml_backend_dev_init (CPU)");
        try
        {
            // The CPU backend lives in a library loaded at run time: its thread setter is found through the registry.
            var setThreads = (delegate* unmanaged[Cdecl]<IntPtr, int,
                void>)GgmlApi.ggml_backend_reg_get_proc_address(GgmlApi.ggml_backend_dev_backend_reg(device), "ggml_backend_set_n_threads");
            if (setThreads != null)
            {
                setThreads(backend.DangerousGetHandle(), threads);
            }

            var raw = backend.DangerousGetHandle();
            var sched = SafeGgmlSchedHandle.Wrap(GgmlApi.ggml_backend_sched_new(&raw, null, 1, (nuint)graphSize, false, false), "ggml_backend_sched_new");
            return new GgmlCpuBackend(backend, sched, setThreads, threads);
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Sched.Dispose();
        Backend.Dispose();
    }

    // The CPU backends (one library per instruction set) are registered once per process; the llama runtime may have done it.
    private static IntPtr CpuDevice()
    {
        lock (Gate)
        {
            var device = GgmlApi.ggml_backend_dev_by_type(GgmlDeviceType.Cpu);
            if (device == IntPtr.Zero && !backendsLoaded)
            {
                backendsLoaded = true;
                GgmlApi.ggml_backend_load_all_from_path(GgmlLibrary.Directory);
                device = GgmlApi.ggml_backend_dev_by_type(GgmlDeviceType.Cpu);
            }

            return device != IntPtr.Zero
                ? device
                : throw new GgmlException($"ggml found no CPU device in '{GgmlLibrary.Directory}': the libggml-cpu-*.so backends are missing or do not load on this CPU");
        }
    }
}
