namespace Maas.Optimization.FineTuning;

/// <summary>A graph that is not one the import reads; the message names the node.</summary>
public sealed class NetworkImportException(string message) : Exception(message);
