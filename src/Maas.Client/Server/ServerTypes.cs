using System.Text.Json;
using System.Text.Json.Serialization;

namespace Maas.Client.Server;

/// <summary>An ONNX model version known to the serving layer and its state (<c>READY</c> when loaded).</summary>
public sealed record RepositoryEntry(string Name, string Version, string State, string? Reason);

/// <summary>A loaded LLM engine with its slots, context and KV cache use.</summary>
public sealed record LlmEngineInfo
{
    public required string Model { get; init; }

    public int Version { get; init; }

    public int ActiveRequests { get; init; }

    public JsonElement? Info { get; init; }

    public JsonElement? Statistics { get; init; }

    /// <summary>Fields this client does not know.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }
}

/// <summary>What is loaded on a server and how much memory the process uses.</summary>
public sealed record ServerStatus(IReadOnlyList<RepositoryEntry> Onnx, IReadOnlyList<LlmEngineInfo> Llm, IReadOnlyDictionary<string, double> Process);
