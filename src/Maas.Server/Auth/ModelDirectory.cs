using System.Collections.Concurrent;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Microsoft.Extensions.Options;

namespace Maas.Server.Auth;

/// <summary>The answer to "may this caller use this model".</summary>
public enum ModelAccessResult
{
    /// <summary>Go ahead.</summary>
    Allowed,

    /// <summary>The model does not exist: the endpoint answers its own 404.</summary>
    Missing,

    /// <summary>Another tenant's private model, or outside the key's model list: answer 404 as if it did not exist.</summary>
    Hidden,

    /// <summary>A shared model of another tenant that the caller tried to change: 403.</summary>
    ReadOnly,
}

/// <summary>Owner and visibility of models, cached briefly, for the tenant checks of every model route.</summary>
/// <remarks>
/// Registry changes on this node drop the entry at once (the registry's Changed event); changes made on another
/// node are seen within Maas:Auth:ModelCacheMs.
/// </remarks>
public sealed class ModelDirectory
{
    private readonly IServiceProvider _services;
    private readonly TimeProvider _time;
    private readonly long _ttlTicks;
    private readonly ConcurrentDictionary<string, Entry> _cache = new(StringComparer.Ordinal);
    private IModelRegistry? _registry;
    private int _subscribed;

    /// <summary>Creates the directory; the registry is resolved on first use.</summary>
    public ModelDirectory(IServiceProvider services, TimeProvider time, IOptions<AuthOptions> options)
    {
        _services = services;
        _time = time;
        _ttlTicks = TimeSpan.FromMilliseconds(options.Value.ModelCacheMs).Ticks;
    }

    /// <summary>Decides whether <paramref name="caller"/> may use (or, with <paramref name="write"/>, change) the model.</summary>
    public async ValueTask<ModelAccessResult> CheckAsync(Caller caller, string modelReference, bool write, CancellationToken cancellationToken)
    {
        var name = ModelPatterns.ModelNameOf(modelReference);
        if (!ModelPatterns.Allows(caller.Models, name))
        {
            return ModelAccessResult.Hidden;
        }

        var owner = await FindAsync(name, cancellationToken).ConfigureAwait(false);
        if (owner is not { } o)
        {
            return ModelAccessResult.Missing;
        }

        if (!caller.CanSee(name, o.Owner, o.Visibility))
        {
            return ModelAccessResult.Hidden;
        }

        return write && !caller.CanChange(name, o.Owner) ? ModelAccessResult.ReadOnly : ModelAccessResult.Allowed;
    }

    /// <summary>The model's owner and visibility, or null when it does not exist.</summary>
    public async ValueTask<(string Owner, ModelVisibility Visibility)?> FindAsync(string name, CancellationToken cancellationToken) =>
        await LookupAsync(name, cancellationToken).ConfigureAwait(false) is { Exists: true } entry ? (entry.Owner, entry.Visibility) : null;

    /// <summary>True when the model's serving configuration turns payload logging on (<c>log_payloads</c>).</summary>
    public async ValueTask<bool> LogsPayloadsAsync(string modelReference, CancellationToken cancellationToken) =>
        await LookupAsync(ModelPatterns.ModelNameOf(modelReference), cancellationToken).ConfigureAwait(false) is { Exists: true, LogsPayloads: true };

    private async ValueTask<Entry?> LookupAsync(string name, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcTicks;
        if (_cache.TryGetValue(name, out var cached) && cached.ValidUntil > now)
        {
            return cached;
        }

        var registry = Registry();
        if (registry is null || !RegistryNames.IsValidName(name))
        {
            return null;
        }

        Entry entry;
        try
        {
            var model = await registry.GetModelAsync(name, cancellationToken).ConfigureAwait(false);
            entry = new Entry(true, model.Owner, model.Visibility, model.ServingConfig.LogPayloads == true, now + _ttlTicks);
        }
        catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound)
        {
            entry = new Entry(false, "", ModelVisibility.Private, false, now + _ttlTicks);
        }

        if (_ttlTicks > 0)
        {
            _cache[name] = entry;
        }

        return entry;
    }

    private IModelRegistry? Registry()
    {
        if (_registry is not null)
        {
            return _registry;
        }

        var registry = _services.GetService<IModelRegistry>();
        if (registry is not null && Interlocked.Exchange(ref _subscribed, 1) == 0)
        {
            registry.Changed += (_, change) => _cache.TryRemove(change.Model, out Entry? _);
        }

        return _registry = registry;
    }

    private sealed record Entry(bool Exists, string Owner, ModelVisibility Visibility, bool LogsPayloads, long ValidUntil);
}
