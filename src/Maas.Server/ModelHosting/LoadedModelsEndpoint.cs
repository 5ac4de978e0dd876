using Maas.Core.Hosting;
using Maas.Server.Auth;

namespace Maas.Server.ModelHosting;

/// <summary>
/// <c>GET /api/v1/loaded-models</c>: the versions loaded (or loading, unloading) on this server with their engine,
/// requests in flight and measured memory, and the memory budget; a caller sees the models it may see (admins all).
/// </summary>
internal static class LoadedModelsEndpoint
{
    public static async Task<IResult> ListAsync(HttpContext context, ModelHost host)
    {
        var visible = new List<HostedModelStatus>();
        foreach (var model in host.Models(measureMappedFiles: true).Where(m => m.State != ModelState.Unavailable))
        {
            if (context.GetCaller() is null or { IsAdmin: true }
                || (await context.CheckModelKeyAccessAsync(model.Key.Name, write: false, context.RequestAborted)).Result == ModelAccessResult.Allowed)
            {
                visible.Add(model);
            }
        }

        return Results.Json(new
        {
            memory_budget_bytes = host.Options.MemoryBudgetBytes,
            accounted_bytes = host.AccountedBytes(),
            process_resident_bytes = ProcessMemory.ResidentBytes(),
            loads = host.LoadCount,
            reloads = host.ReloadCount,
            evictions = host.EvictionCount,
            models = visible.Select(m => Describe(m, context.GetCaller()?.Tenant)),
        });
    }

    // Models are named as the caller would name them: its own by their short name, another tenant's as owner/name.
    public static object Describe(HostedModelStatus m, string? tenant) => new
    {
        model = tenant is null ? m.Key.Name : Maas.Core.Registry.ModelKeys.RelativeTo(m.Key.Name, tenant),
        version = m.Key.Version,
        tenant = ModelHost.TenantOf(m.Key),
        engine = m.Engine,
        format = m.Format.ToString().ToLowerInvariant(),
        state = m.State.ToLabel(),
        reason = m.Reason,
        in_flight = m.InFlight,
        pinned = m.Pinned,
        keep_alive_seconds = m.KeepAlive.TotalSeconds,
        last_used = m.LastUsed,
        loaded_at = m.LoadedAt,
        memory = m.Memory is { } b
            ? new
            {
                estimated_bytes = b.EstimatedBytes,
                resident_delta_bytes = b.ResidentDeltaBytes,
                private_bytes = b.PrivateBytes,
                mapped_file_bytes = b.MappedFileBytes,
                engine_bytes = b.EngineBytes,
                accounted_bytes = b.AccountedBytes,
                load_peak_bytes = b.LoadPeakBytes,
            }
            : null,
    };
}
