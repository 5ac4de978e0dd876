namespace Maas.Core.Training;

/// <summary>A network that cannot be built; the message names the layer (by position and type).</summary>
public sealed class NetworkException(string message) : Exception(message);
