using System.Globalization;
using Maas.Client.Server;

namespace Maas.Client;

/// <summary>What runs on the server: loaded models, engines, metrics.</summary>
public sealed partial class MaasClient
{
    /// <summary>Every ONNX version the serving layer knows with its state (admin); <paramref name="readyOnly"/> lists loaded ones.</summary>
    public Task<IReadOnlyList<RepositoryEntry>> RepositoryIndexAsync(bool readyOnly = false, CancellationToken cancellationToken = default) =>
        SendAsync<IReadOnlyList<RepositoryEntry>>(HttpMethod.Post, "v2/repository/index", new { ready = readyOnly }, cancellationToken);

    /// <summary>The loaded LLM engines.</summary>
    public Task<IReadOnlyList<LlmEngineInfo>> LlmEnginesAsync(CancellationToken cancellationToken = default) =>
        SendAsync<IReadOnlyList<LlmEngineInfo>>(HttpMethod.Get, "api/v1/llm/engines", null, cancellationToken);

    /// <summary>The Prometheus text of <c>/metrics</c> (admin).</summary>
    public async Task<string> MetricsTextAsync(CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "metrics");
        using var response = await SendRawAsync(request, cancellationToken);
        return await response.Content.ReadAsStringAsync(cancellationToken);
    }

    /// <summary>Loaded ONNX versions, loaded LLM engines and the process's memory series from the metrics.</summary>
    public async Task<ServerStatus> StatusAsync(CancellationToken cancellationToken = default)
    {
        var onnx = RepositoryIndexAsync(readyOnly: true, cancellationToken);
        var llm = LlmEnginesAsync(cancellationToken);
        var metrics = MetricsTextAsync(cancellationToken);
        return new ServerStatus(await onnx, await llm, ProcessSeries(await metrics));
    }

    /// <summary>The unlabelled <c>dotnet_process_memory_*</c> and <c>dotnet_gc_heap_*</c>-style samples of a Prometheus text.</summary>
    public static IReadOnlyDictionary<string, double> ProcessSeries(string prometheusText)
    {
        var series = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var raw in prometheusText.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#' || !line.Contains("memory", StringComparison.Ordinal))
            {
                continue;
            }

            var space = line.LastIndexOf(' ');
            var name = line[..space];
            if (name.StartsWith("dotnet_", StringComparison.Ordinal) && !name.Contains('{', StringComparison.Ordinal)
                && double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                series[name] = value;
            }
        }

        return series;
    }
}
