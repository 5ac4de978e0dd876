using Maas.Core.Hosting;
using Maas.Core.Llm;
using Microsoft.Extensions.Logging;

namespace Maas.Runtimes.Llama.Serving;

/// <summary>Loads GGUF models into <see cref="LlamaEngine"/>s (the server's <see cref="ILlmEngineFactory"/>).</summary>
public sealed class LlamaEngineFactory : ILlmEngineFactory
{
    private readonly ILogger? _logger;

    /// <summary>A factory whose engines do not log.</summary>
    public LlamaEngineFactory()
    {
    }

    /// <summary>A factory whose engines log under <see cref="LlamaEngine"/>'s category (request timelines and host prompt cache traffic at Debug).</summary>
    public LlamaEngineFactory(ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _logger = loggerFactory.CreateLogger<LlamaEngine>();
    }

    /// <inheritdoc />
    public string Engine => "llama.cpp";

    /// <inheritdoc />
    public async Task<ILlmEngine> LoadAsync(LlmModelSpec spec, CancellationToken cancellationToken)
    {
        // Loading reads and maps the file and allocates the KV cache: seconds for big models, so on a thread of its own.
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            return await DedicatedThread.Run<ILlmEngine>(
                "maas-load",
                () =>
                {
                    // The registry checked the file at upload, but it may predate a check, or have changed on disk since:
                    // llama.cpp aborts the process on some malformed files, so the project's own reader sees it first.
                    CheckFile(spec);
                    return LlamaEngine.Load(spec, _logger, cancellationToken);
                }).ConfigureAwait(false);
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

    private static void CheckFile(LlmModelSpec spec)
    {
        try
        {
            Maas.Core.Registry.GgufSignatures.Read(spec.Path);
        }
        catch (Exception ex) when (ex is Maas.Core.Formats.InvalidModelFileException or InvalidDataException or EndOfStreamException)
        {
            throw new LlmException(
                LlmErrorKind.Unavailable,
                $"model '{spec.Name}' version {spec.Version} could not be loaded: its file is not a usable GGUF ({ex.Message})",
                "model",
                "model_load_failed",
                ex);
        }
    }
}
