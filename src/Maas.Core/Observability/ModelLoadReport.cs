namespace Maas.Core.Observability;

/// <summary>One finished attempt to load a model version: how long it took and whether it worked.</summary>
/// <param name="Model">The registry name.</param>
/// <param name="Version">The registry version.</param>
/// <param name="Engine">The engine that loaded it: <c>onnxruntime</c> or <c>llama.cpp</c>.</param>
/// <param name="Duration">From the start of the load to its end, failed or not.</param>
/// <param name="Succeeded">False when the load failed (the reason goes to the callers waiting on it).</param>
public sealed record ModelLoadReport(string Model, int Version, string Engine, TimeSpan Duration, bool Succeeded);
