using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Maas.Runtimes.Ggml.Native;

/// <summary>
/// Owns a <c>ggml_opt_context_t</c> and the native copy of its optimiser settings, which ggml reads through
/// <c>ggml_opt_get_constant_optimizer_params</c> before every step (so it must outlive the context).
/// </summary>
internal sealed unsafe class SafeGgmlOptHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    private GgmlOptOptimizerParams* settings;

    public SafeGgmlOptHandle()
        : base(ownsHandle: true)
    {
    }

    /// <summary>
    /// A context with static graphs over <paramref name="inputs"/> → <paramref name="outputs"/> built in
    /// <paramref name="compute"/>, minimising cross-entropy with the given optimiser and constant settings; an
    /// <paramref name="optPeriod"/> above one accumulates the gradients of that many evaluations (each loss scaled by
    /// its inverse) before a step.
    /// </summary>
    public static SafeGgmlOptHandle Create(SafeGgmlSchedHandle sched, SafeGgmlContextHandle compute, IntPtr inputs, IntPtr outputs, GgmlOptimizerType optimizer,
        GgmlOptOptimizerParams optimizerParams, int optPeriod = 1)
    {
        var handle = new SafeGgmlOptHandle();
        handle.settings = (GgmlOptOptimizerParams*)NativeMemory.Alloc((nuint)sizeof(GgmlOptOptimizerParams));
        *handle.settings = optimizerParams;
        var parameters = GgmlApi.ggml_opt_default_params(sched, GgmlOptLossType.CrossEntropy);
        parameters.CtxCompute = compute.DangerousGetHandle();
        parameters.Inputs = inputs;
        parameters.Outputs = outputs;
        parameters.Optimizer = optimizer;
        parameters.OptPeriod = optPeriod;
        parameters.GetOptPars = GgmlLibrary.Export(GgmlLibrary.GgmlBase, "ggml_opt_get_constant_optimizer_params");
        parameters.GetOptParsUserData = (IntPtr)handle.settings;
        var raw = GgmlApi.ggml_opt_init(parameters);
        if (raw == IntPtr.Zero)
        {
            handle.Dispose();
            throw new GgmlException("ggml_opt_init returned nothing");
        }

        handle.SetHandle(raw);
        return handle;
    }

    /// <summary>The settings ggml reads before the next step (a resumed run scales them; see GgmlNetwork).</summary>
    public GgmlOptOptimizerParams Settings
    {
        get => *settings;
        set => *settings = value;
    }

    protected override bool ReleaseHandle()
    {
        GgmlApi.ggml_opt_free(handle);
        FreeSettings();
        return true;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);

        // A handle that never got a context still frees its settings.
        if (IsInvalid)
        {
            FreeSettings();
        }
    }

    private void FreeSettings()
    {
        NativeMemory.Free(settings);
        settings = null;
    }
}
