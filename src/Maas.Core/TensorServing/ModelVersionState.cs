namespace Maas.Core.TensorServing;

/// <summary>The state of one model version as the repository extension reports it.</summary>
/// <param name="Name">The model name.</param>
/// <param name="Version">The version.</param>
/// <param name="State">READY, LOADING, UNLOADING or UNAVAILABLE (<see cref="ModelStates.ToProtocolName"/>).</param>
/// <param name="Reason">Why it is in that state, when not READY.</param>
public sealed record ModelVersionState(string Name, int Version, string State, string Reason);
