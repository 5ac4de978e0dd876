namespace Maas.Core.Registry.Import;

/// <summary>An import source the network policy refuses.</summary>
public sealed class ImportBlockedException(string message) : Exception(message);
