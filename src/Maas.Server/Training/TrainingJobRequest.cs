using System.Text.Json;
using Maas.Core.Training;

namespace Maas.Server.Training;

/// <summary>POST /api/v1/training/jobs.</summary>
public sealed record TrainingJobRequest(
    string? Model,
    string? Dataset,
    string? Task,
    string? Label,
    string[]? Features,
    string? Trainer,
    Dictionary<string, double>? Hyperparameters,
    SplitRequest? Split,
    JsonElement? Search,
    string? Alias,
    string? Visibility,
    List<NetworkLayer>? Network = null);
