using Microsoft.Win32.SafeHandles;

namespace Maas.Runtimes.Llama.Native;

/// <summary>Owns a <c>ggml_opt_dataset</c>: token windows (data) and their next tokens (labels), both int32.</summary>
internal sealed unsafe class SafeGgmlOptDatasetHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    private const uint GgmlTypeI32 = 26;

    public SafeGgmlOptDatasetHandle()
        : base(ownsHandle: true)
    {
    }

    /// <summary>Number of tokens in one window (datapoint).</summary>
    public int Window { get; private set; }

    /// <summary>A dataset of <paramref name="count"/> windows of <paramref name="window"/> tokens.</summary>
    public static SafeGgmlOptDatasetHandle Create(int window, int count)
    {
        var raw = NativeApi.ggml_opt_dataset_init(GgmlTypeI32, GgmlTypeI32, window, window, count, 1);
        if (raw == IntPtr.Zero)
        {
            throw new LlamaException($"ggml_opt_dataset_init failed for {count} windows of {window} tokens");
        }

        var dataset = new SafeGgmlOptDatasetHandle { Window = window };
        dataset.SetHandle(raw);
        return dataset;
    }

    /// <summary>Copies window <paramref name="index"/>: its tokens and, position by position, the token that follows.</summary>
    public void Set(int index, ReadOnlySpan<int> tokens, ReadOnlySpan<int> labels)
    {
        if (tokens.Length != Window || labels.Length != Window)
        {
            throw new ArgumentException($"a window holds exactly {Window} tokens and {Window} labels");
        }

        using var lease = new SafeHandleLease(this);
        var data = (int*)NativeApi.ggml_get_data(NativeApi.ggml_opt_dataset_data(this));
        var next = (int*)NativeApi.ggml_get_data(NativeApi.ggml_opt_dataset_labels(this));
        tokens.CopyTo(new Span<int>(data + ((long)index * Window), Window));
        labels.CopyTo(new Span<int>(next + ((long)index * Window), Window));
    }

    protected override bool ReleaseHandle()
    {
        NativeApi.ggml_opt_dataset_free(handle);
        return true;
    }
}
