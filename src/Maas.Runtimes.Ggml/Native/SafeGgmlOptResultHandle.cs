using Microsoft.Win32.SafeHandles;

namespace Maas.Runtimes.Ggml.Native;

/// <summary>Owns a <c>ggml_opt_result_t</c> (loss and accuracy summed over evaluated batches).</summary>
internal sealed class SafeGgmlOptResultHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public SafeGgmlOptResultHandle()
        : base(ownsHandle: true)
    {
    }

    /// <summary>Takes ownership of <paramref name="raw"/>, or throws naming the call that returned nothing.</summary>
    public static SafeGgmlOptResultHandle Wrap(IntPtr raw, string what)
    {
        if (raw == IntPtr.Zero)
        {
            throw new GgmlException($"{what} returned nothing");
        }

        var handle = new SafeGgmlOptResultHandle();
        handle.SetHandle(raw);
        return handle;
    }

    /// <summary>The mean loss per batch of what was evaluated into this result.</summary>
    public unsafe double Loss
    {
        get
        {
            double loss, uncertainty;
            GgmlApi.ggml_opt_result_loss(this, &loss, &uncertainty);
            return loss;
        }
    }

    /// <summary>The share of rows whose prediction was the label, of what was evaluated into this result.</summary>
    public unsafe double Accuracy
    {
        get
        {
            double accuracy, uncertainty;
            GgmlApi.ggml_opt_result_accuracy(this, &accuracy, &uncertainty);
            return accuracy;
        }
    }

    protected override bool ReleaseHandle()
    {
        GgmlApi.ggml_opt_result_free(handle);
        return true;
    }
}
