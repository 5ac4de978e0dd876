using System.Text.Json;

namespace Maas.Server.Training;

/// <summary>POST /api/v1/models/{name}/versions/{n}/evaluations: a version MaaS trained, scored on a labelled dataset.</summary>
public sealed record EvaluationRequest(JsonElement? Dataset, string? Label, int? Limit);
