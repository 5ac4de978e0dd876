using System.Text.Json;
using Maas.Client.Jobs;

namespace Maas.Client;

/// <summary>Optimisation: a smaller or faster version made from a registered one, measured and gated.</summary>
public sealed partial class MaasClient
{
    /// <summary>
    /// Starts an optimisation of <paramref name="name"/> version <paramref name="version"/> with <paramref name="method"/>
    /// (<c>onnx-int8-dynamic</c>, <c>gguf-quantize</c>, ...); the job's result holds the new version, its status
    /// (<c>ready</c> or <c>rejected</c>) and the report.
    /// </summary>
    public Task<JobInfo> OptimizeVersionAsync(
        string name, int version, string method, IReadOnlyDictionary<string, JsonElement>? options = null, IReadOnlyDictionary<string, double>? gate = null, string? alias = null,
        CancellationToken cancellationToken = default) =>
        SendAsync<JobInfo>(HttpMethod.Post, $"api/v1/models/{Escape(name)}/versions/{version}:optimize", new { method, options, gate, alias }, cancellationToken);
}
