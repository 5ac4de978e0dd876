using Maas.Core.Registry;
using Maas.Core.Tenancy;

namespace Maas.Server.Auth;

/// <summary>
/// What one request used, filled in as it runs: the auth gate creates it, endpoints report what only they know
/// (the model named in a body, LLM tokens, batch rows, engine time), and it becomes the usage record at the end.
/// </summary>
/// <remarks>Reports may come from any thread (streaming responses); counters add atomically.</remarks>
public sealed class RequestUsage
{
    private long _promptTokens;
    private long _completionTokens;
    private long _batchItems;
    private long _computeMicros;

    internal RequestUsage(Caller caller, ModelDirectory? models)
    {
        Caller = caller;
        Models = models;
    }

    /// <summary>Who is calling.</summary>
    public Caller Caller { get; }

    /// <summary>The model the request used (from the route, or reported by the endpoint).</summary>
    public string? Model { get; private set; }

    /// <summary>The model version, when known.</summary>
    public int? Version { get; private set; }

    /// <summary>What the audit log names as the action's target (default: the route values).</summary>
    public string? AuditTarget { get; set; }

    /// <summary>LLM prompt tokens reported.</summary>
    public long PromptTokens => Interlocked.Read(ref _promptTokens);

    /// <summary>LLM completion tokens reported.</summary>
    public long CompletionTokens => Interlocked.Read(ref _completionTokens);

    /// <summary>Batch rows reported.</summary>
    public long BatchItems => Interlocked.Read(ref _batchItems);

    /// <summary>Engine milliseconds reported (null when none were).</summary>
    public double? ComputeMs => Interlocked.Read(ref _computeMicros) is var micros and > 0 ? micros / 1000.0 : null;

    internal ModelDirectory? Models { get; }

    /// <summary>Names the model (and version) the request used, by its key (<see cref="ModelKeys"/>), once resolved.</summary>
    /// <remarks>
    /// The record names the model as the caller's tenant does: its short name for the tenant's own model, else
    /// <c>owner/name</c> (metric series turn it back into the key). Only a model that resolved is ever named: the
    /// name goes into the usage table and metric labels, so a name the caller made up (or another tenant's private
    /// model, answered alike) must reach neither; such a request is recorded with no model.
    /// </remarks>
    public void ReportModel(string model, int? version = null)
    {
        var key = ModelPatterns.ModelNameOf(model);
        Model = ModelKeys.IsValid(key) ? ModelKeys.RelativeTo(key, Caller.Tenant) : null;
        Version = version ?? Version;
    }

    /// <summary>
    /// The version the usage record and the request metrics name: none without a resolved model, and none on a 404
    /// (the version named in the route did not exist, and a made-up number must not become a label value).
    /// </summary>
    public int? RecordedVersion(int status) => Model is null || status == StatusCodes.Status404NotFound ? null : Version;

    /// <summary>Adds LLM tokens (call once at the end, or per chunk while streaming).</summary>
    public void ReportTokens(long promptTokens, long completionTokens)
    {
        Interlocked.Add(ref _promptTokens, Math.Max(0, promptTokens));
        Interlocked.Add(ref _completionTokens, Math.Max(0, completionTokens));
    }

    /// <summary>Adds batch rows (inference inputs along the batch dimension).</summary>
    public void ReportBatchItems(long items) => Interlocked.Add(ref _batchItems, Math.Max(0, items));

    /// <summary>Adds engine compute time.</summary>
    public void ReportCompute(TimeSpan compute) => Interlocked.Add(ref _computeMicros, Math.Max(0, compute.Ticks / 10));

    /// <summary>Adds what one inference call put through a model: its rows and its share of the batch's compute.</summary>
    public void ReportInference(Maas.Core.TensorServing.InferenceResponse response)
    {
        ReportBatchItems(response.BatchItems);
        ReportCompute(response.ComputeTime);
    }

    /// <summary>A sink for code that runs without the auth gate (nothing is kept).</summary>
    internal static RequestUsage Discard { get; } = new(new Caller(null, null, "none", Tenant.DefaultName, [], []), null);
}
