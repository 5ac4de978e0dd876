namespace Maas.Core.TensorServing;

/// <summary>What a tensor model is loaded with: its scheduling and the statistics that outlive its reloads.</summary>
/// <param name="Servable">The resolved version with its scheduling.</param>
/// <param name="Statistics">The version's statistics (kept across loads).</param>
public sealed record TensorModelSettings(ServableModel Servable, InferenceStatistics Statistics);
