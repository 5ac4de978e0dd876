using Maas.Runtimes.Llama.Native;

namespace Maas.Runtimes.Llama;

/// <summary>Quantises GGUF models with llama.cpp (llama_model_quantize).</summary>
public static class LlamaQuantizer
{
    /// <summary>Writes a quantised copy of <paramref name="input"/> to <paramref name="output"/>.</summary>
    /// <exception cref="LlamaException">llama.cpp failed; the message carries its reason.</exception>
    public static void Quantize(string input, string output, LlamaQuantizeOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(input);
        ArgumentException.ThrowIfNullOrEmpty(output);
        options ??= new LlamaQuantizeOptions();
        if (!File.Exists(input))
        {
            throw new FileNotFoundException($"No model file at '{input}'", input);
        }

        if (Path.GetFullPath(input) == Path.GetFullPath(output))
        {
            throw new ArgumentException("the output must be a different file than the input", nameof(output));
        }

        LlamaBackend.EnsureInitialized();
        var p = NativeApi.llama_model_quantize_default_params();
        p.Ftype = options.FileType;
        p.NThread = options.Threads;
        p.AllowRequantize = options.AllowRequantize ? (byte)1 : (byte)0;
        p.QuantizeOutputTensor = options.QuantizeOutputTensor ? (byte)1 : (byte)0;
        p.Pure = options.Pure ? (byte)1 : (byte)0;
        p.OutputTensorType = (uint?)options.OutputTensorType ?? p.OutputTensorType;
        p.TokenEmbeddingType = (uint?)options.TokenEmbeddingType ?? p.TokenEmbeddingType;

        using var imatrix = options.ImportanceMatrix?.Pin();
        p.Imatrix = imatrix?.Pointer ?? IntPtr.Zero;
        LlamaLogging.BeginCapture();
        var status = NativeApi.Quantize(input, output, p);
        if (status != 0)
        {
            throw new LlamaException(
                $"llama_model_quantize('{input}' -> '{output}', {options.FileType}, {options.Threads} threads) failed with status {status}",
                LlamaLogging.TakeErrors());
        }
    }
}
