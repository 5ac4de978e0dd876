using System.Text.Json;

namespace Maas.Server.Optimization;

/// <summary>POST /api/v1/models/{name}/versions/{n}:optimize.</summary>
public sealed record OptimizeRequest(string? Method, JsonElement? Options, JsonElement? Gate, string? Alias);
