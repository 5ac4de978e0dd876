using System.Text.Json;
using Maas.Core.Jobs.Queue;

namespace Maas.Server.Jobs;

/// <summary>A worker-run job (optimisation, training, ...) as /api/v1/jobs shows it.</summary>
public sealed record QueuedJobResponse : WorkerJobView
{
    private QueuedJobResponse(QueuedJob job, string? tenant)
        : base(job, tenant)
    {
        Kind = job.Kind;
        var (model, version) = Subject(job.Spec);
        Model = Named(model, tenant);
        Version = version;
    }

    /// <summary>What it does ("optimization", "training", ...).</summary>
    public string Kind { get; init; }

    /// <summary>The model it works on (from its spec).</summary>
    public string? Model { get; init; }

    /// <summary>The version it works on (from its spec), when it has one.</summary>
    public int? Version { get; init; }

    /// <inheritdoc />
    public override string Url => $"/api/v1/jobs/{Id}";

    /// <summary>The API view of a queued job; models are named as <paramref name="tenant"/> names them (null: by key).</summary>
    public static QueuedJobResponse From(QueuedJob job, string? tenant = null) => new(job, tenant);

    /// <summary>The model (and version) a job's spec names, read without knowing its kind.</summary>
    public static (string? Model, int? Version) Subject(string spec)
    {
        try
        {
            using var document = JsonDocument.Parse(spec);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return (null, null);
            }

            var model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            int? version = root.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : null;
            return (model, version);
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }
}
