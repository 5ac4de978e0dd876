using Maas.Core.Hosting;

namespace Maas.Core.Llm;

/// <summary>
/// LLM serving's view of the <see cref="ModelHost"/>: a request holds its engine through an
/// <see cref="LlmEngineLease"/> from before it is queued until its last token is sent; the host loads engines on
/// first use (concurrent first requests share one load) and unloads them after their keep-alive of idleness
/// (Ollama's keep_alive), never while a request holds them.
/// </summary>
public sealed class LlmEngineManager(ModelHost host)
{
    /// <summary>How the host loads the engine of <paramref name="spec"/>.</summary>
    public static ModelLoadRequest RequestFor(LlmModelSpec spec, TimeSpan keepAlive, bool pinned = false, long artifactBytes = 0, string artifactKey = "") => new()
    {
        Key = new ModelKey(spec.Name, spec.Version),
        Format = Formats.ModelFormat.Gguf,
        Settings = spec,
        KeepAlive = keepAlive,
        Pinned = pinned,
        ArtifactBytes = artifactBytes,
        ArtifactKey = artifactKey,
    };

    /// <summary>The engine for <paramref name="spec"/>, loading it when needed (the caller waits); dispose the lease when done.</summary>
    /// <exception cref="LlmException">Loading failed (503 with the engine's reason).</exception>
    public Task<LlmEngineLease> AcquireAsync(LlmModelSpec spec, TimeSpan keepAlive, CancellationToken cancellationToken) =>
        AcquireAsync(RequestFor(spec, keepAlive), cancellationToken);

    /// <summary>The engine of a load request, loading it when needed (the caller waits); dispose the lease when done.</summary>
    /// <exception cref="LlmException">Loading failed (503 with the engine's reason).</exception>
    public async Task<LlmEngineLease> AcquireAsync(ModelLoadRequest request, CancellationToken cancellationToken)
    {
        try
        {
            var lease = await host.AcquireAsync(request, cancellationToken).ConfigureAwait(false);
            return new LlmEngineLease(lease, ((HostedLlm)lease.Model).Engine);
        }
        catch (ModelHostException ex)
        {
            if (ex.InnerException is LlmException engineSaid)
            {
                throw engineSaid; // the engine's own reason and code, as it gave them
            }

            if (ex.Kind == ModelHostErrorKind.QuotaExceeded)
            {
                throw new LlmException(LlmErrorKind.QueueFull, ex.Message, "model", "memory_quota_exceeded", ex);
            }

            if (ex.Kind == ModelHostErrorKind.LoadTimeout)
            {
                // No inner exception: the message (the limit, no paths) is the caller's to read, not hidden as a server fault.
                throw new LlmException(LlmErrorKind.Unavailable, ex.Message, "model", "model_load_timeout");
            }

            var reason = ex.InnerException?.Message ?? ex.Message;
            throw new LlmException(LlmErrorKind.Unavailable, $"model '{request.Key.Name}' version {request.Key.Version} could not be loaded: {reason}", "model",
                "model_load_failed", ex);
        }
    }

    /// <summary>The engines loaded now.</summary>
    public IReadOnlyList<LoadedLlmEngine> Loaded() =>
        [.. host.Models()
            .Where(s => s.State == ModelState.Ready)
            .Select(s => (Status: s, Model: host.Peek(s.Key) as HostedLlm))
            .Where(x => x.Model is not null)
            .Select(x => new LoadedLlmEngine(x.Status.Key.Name, x.Status.Key.Version, x.Model!.Engine, x.Status.InFlight, x.Status.InFlight == 0 ? x.Status.LastUsed : null,
                x.Model.Spec))];
}
