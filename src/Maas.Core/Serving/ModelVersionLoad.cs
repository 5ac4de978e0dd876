namespace Maas.Core.Serving;

/// <summary>A version the manager knows: its state (READY, LOADING, UNAVAILABLE, ...) and its loaded engine instances.</summary>
public readonly record struct ModelVersionLoad(string Name, int Version, string State, int Instances);
