using System.Runtime.InteropServices;
using Maas.Runtimes.Llama.Native.Load;

namespace Maas.Runtimes.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(LlamaLibrary.Llama)]
    internal static partial LlamaModelQuantizeParams llama_model_quantize_default_params();

    [LibraryImport(LlamaLibrary.Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial uint llama_model_quantize(string input, string output, LlamaModelQuantizeParams* parameters);

    /// <summary>Runs llama_model_quantize with the given parameters; returns its status (0 = success).</summary>
    internal static uint Quantize(string input, string output, LlamaModelQuantizeParams parameters) =>
        llama_model_quantize(input, output, &parameters);
}
