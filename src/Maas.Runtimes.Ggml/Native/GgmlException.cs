namespace Maas.Runtimes.Ggml.Native;

/// <summary>A ggml call that failed or an engine that could not be set up.</summary>
public sealed class GgmlException(string message) : Exception(message);
