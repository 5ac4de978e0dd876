using Maas.Core.Llm;

namespace Maas.Runtimes.Llama.Serving;

/// <summary>Loads GGUF models into <see cref="LlamaEngine"/>s (the server's <see cref="ILlmEngineFactory"/>).</summary>
public sealed class LlamaEngineFactory : ILlmEngineFactory
{
    /// <inheritdoc />
    public string Engine => "llama.cpp";

    /// <inheritdoc />
    public async Task<ILlmEngine> LoadAsync(LlmModelSpec spec, CancellationToken cancellationToken)
    {
        // Loading reads and maps the file and allocates the KV cache: seconds for big models, so off the request thread.
        try
        {
            return await Task.Run<ILlmEngine>(() => LlamaEngine.Load(spec, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        catch (LlamaException ex)
        {
            throw new LlmException(
                LlmErrorKind.Unavailable,
                $"model '{spec.Name}' version {spec.Version} could not be loaded: {ex.Message}{(ex.NativeLog.Length > 0 ? " (" + ex.NativeLog.Trim() + ")" : "")}",
                "model",
                "model_load_failed",
                ex);
        }
    }
}
