namespace Maas.Core.Llm;

/// <summary>Loads engines for model files (the llama.cpp runtime in the server).</summary>
public interface ILlmEngineFactory
{
    /// <summary>The engine's name in states, metrics and logs (e.g. <c>llama.cpp</c>).</summary>
    string Engine { get; }

    /// <summary>Loads the model and creates its engine; throws <see cref="LlmException"/> when the file cannot be served.</summary>
    Task<ILlmEngine> LoadAsync(LlmModelSpec spec, CancellationToken cancellationToken);
}
