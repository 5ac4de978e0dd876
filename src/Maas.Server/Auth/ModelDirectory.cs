using System.Collections.Concurrent;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Microsoft.Extensions.Options;

namespace Maas.Server.Auth;

/// <summary>
/// Resolves a caller's model reference to the model's key, once, at the edge, and says whether the caller may use it;
/// caches owners and visibility briefly.
/// </summary>
/// <remarks>
/// <para>
/// Names are per tenant. <c>tenant/name</c> names that tenant's model. A short <c>name</c> names the caller's own
/// tenant's model; when the tenant owns none, it names the one model of that name the caller may see in another
/// tenant (a shared one; for an admin, any), if there is exactly one, so existing clients keep working. Another
/// tenant's private model is answered exactly like a model that does not exist, with the same lookups.
/// </para>
/// <para>
/// Registry changes on this node drop the entry at once (the registry's Changed event); changes made on another
/// node are seen within Maas:Auth:ModelCacheMs.
/// </para>
/// </remarks>
public sealed class ModelDirectory
{
    private readonly TimeProvider _time;
    private readonly long _ttlTicks;
    private readonly ConcurrentDictionary<string, Entry> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Namesakes> _namesakes = new(StringComparer.Ordinal);
    private readonly IModelRegistry? _registry;

    // Entries expire but are only replaced when the same name is asked again; names asked once (a caller probing many
    // that do not exist) are swept out every time as many were added as the caches held after the last sweep
    // (at least SweepEvery), on the lookup path that queried the registry anyway: amortized O(1), memory bounded by
    // about twice what was asked within Maas:Auth:ModelCacheMs.
    private const int SweepEvery = 1024;
    private readonly Lock _sweepGate = new();
    private int _added;
    private int _sweepAt = SweepEvery;

    /// <summary>Creates the directory over <paramref name="registry"/> (null in a server without the registry: no model resolves).</summary>
    public ModelDirectory(TimeProvider time, IOptions<AuthOptions> options, IModelRegistry? registry = null)
    {
        _time = time;
        _ttlTicks = TimeSpan.FromMilliseconds(options.Value.ModelCacheMs).Ticks;
        _registry = registry;
        if (registry is not null)
        {
            registry.Changed += (_, change) =>
            {
                _cache.TryRemove(change.Model, out Entry? _);
                if (ModelKeys.TrySplit(change.Model, out string? _, out var name))
                {
                    _namesakes.TryRemove(name, out Namesakes? _);
                }
            };
        }
    }

    /// <summary>Resolves what <paramref name="caller"/> named and decides whether it may use (or, with <paramref name="write"/>, change) the model.</summary>
    /// <param name="caller">Who asks.</param>
    /// <param name="modelReference">The caller's text: <c>name</c>, <c>tenant/name</c>, with <c>:alias</c> or <c>/versions/N</c>; a <c>%2F</c> counts as '/'.</param>
    /// <param name="write">True when the request changes the model.</param>
    /// <param name="cancellationToken">Cancels the lookups.</param>
    public async ValueTask<ModelAccess> CheckAsync(Caller caller, string modelReference, bool write, CancellationToken cancellationToken)
    {
        var text = ModelKeys.UnescapeSlash(modelReference);
        if (!ModelReference.TryParse(text, out var reference) || _registry is null)
        {
            return new ModelAccess(ModelAccessResult.Missing, null, modelReference);
        }

        var name = reference.Name;
        string key;
        string? hint = null;
        if (reference.Owner is { } owner)
        {
            key = ModelKeys.Of(owner, name);
        }
        else
        {
            key = ModelKeys.Of(caller.Tenant, name);
            if (await LookupAsync(key, cancellationToken).ConfigureAwait(false) is not { Exists: true })
            {
                // Only models the caller may see count, so a private namesake changes nothing in the answer.
                var visible = (await NamesakesAsync(name, cancellationToken).ConfigureAwait(false)).Owners
                    .Where(o => o.Owner != caller.Tenant && caller.CanSee(name, o.Owner, o.Visibility))
                    .Select(o => o.Owner)
                    .ToArray();
                if (visible.Length == 1)
                {
                    key = ModelKeys.Of(visible[0], name);
                }
                else if (visible.Length > 1)
                {
                    hint = $"model '{name}' is not in tenant '{caller.Tenant}' and {visible.Length} other tenants share one: name it as '<tenant>/{name}' " +
                        $"({RegistryNames.FirstOf(visible.Order(StringComparer.Ordinal).Select(o => $"'{o}/{name}'"), 5)})";
                }
            }
        }

        var entry = await LookupAsync(key, cancellationToken).ConfigureAwait(false);
        if (hint is not null || entry is not { Exists: true } || !caller.CanSee(name, entry.Owner, entry.Visibility))
        {
            return new ModelAccess(ModelAccessResult.Hidden, null, modelReference, hint);
        }

        var resolved = (reference with { Model = key }).ToString();
        return write && !caller.CanChange(name, entry.Owner)
            ? new ModelAccess(ModelAccessResult.ReadOnly, key, resolved)
            : new ModelAccess(ModelAccessResult.Allowed, key, resolved);
    }

    /// <summary>Like <see cref="CheckAsync"/> for a model already named by its key (a session's, an engine's, a metric's).</summary>
    public ValueTask<ModelAccess> CheckKeyAsync(Caller caller, string key, bool write, CancellationToken cancellationToken) =>
        ModelKeys.TrySplit(key, out var owner, out var name)
            ? CheckAsync(caller, ModelKeys.Qualified(owner, name), write, cancellationToken)
            : ValueTask.FromResult(new ModelAccess(ModelAccessResult.Hidden, null, key));

    /// <summary>The model's owner and visibility by its key, or null when it does not exist.</summary>
    public async ValueTask<(string Owner, ModelVisibility Visibility)?> FindAsync(string key, CancellationToken cancellationToken) =>
        await LookupAsync(ModelKeys.Normalize(key), cancellationToken).ConfigureAwait(false) is { Exists: true } entry ? (entry.Owner, entry.Visibility) : null;

    /// <summary>True when the model's serving configuration turns payload logging on (<c>log_payloads</c>).</summary>
    /// <param name="modelReference">The model by its key, optionally with an alias or version.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    public async ValueTask<bool> LogsPayloadsAsync(string modelReference, CancellationToken cancellationToken) =>
        await LookupAsync(ModelKeys.Normalize(ModelPatterns.ModelNameOf(modelReference)), cancellationToken).ConfigureAwait(false) is { Exists: true, LogsPayloads: true };

    private async ValueTask<Entry?> LookupAsync(string key, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcTicks;
        if (_cache.TryGetValue(key, out var cached) && cached.ValidUntil > now)
        {
            return cached;
        }

        var registry = _registry;
        if (registry is null || !ModelKeys.IsValid(key))
        {
            return null;
        }

        Entry entry;
        try
        {
            var model = await registry.GetModelAsync(key, cancellationToken).ConfigureAwait(false);
            entry = new Entry(true, model.Owner, model.Visibility, model.ServingConfig.LogPayloads == true, now + _ttlTicks);
        }
        catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound)
        {
            entry = new Entry(false, "", ModelVisibility.Private, false, now + _ttlTicks);
        }

        if (_ttlTicks > 0)
        {
            _cache[key] = entry;
            Added();
        }

        return entry;
    }

    // The owners of every model called `name` (all tenants, whatever their visibility: the caller filters).
    private async ValueTask<Namesakes> NamesakesAsync(string name, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcTicks;
        if (_namesakes.TryGetValue(name, out var cached) && cached.ValidUntil > now)
        {
            return cached;
        }

        var page = await _registry!.ListModelsAsync(new ModelQuery { Name = name, Limit = 1000 }, cancellationToken).ConfigureAwait(false);
        var found = new Namesakes(page.Models.Select(m => (m.Owner, m.Visibility)).ToArray(), now + _ttlTicks);
        if (_ttlTicks > 0)
        {
            _namesakes[name] = found;
            Added();
        }

        return found;
    }

    /// <summary>Entries cached now, of both caches (tests check that expired ones go).</summary>
    internal int CachedEntries => _cache.Count + _namesakes.Count;

    /// <summary>True when the model's entry is cached (expired or not).</summary>
    internal bool Caches(string key) => _cache.ContainsKey(key);

    private void Added()
    {
        if (Interlocked.Increment(ref _added) < Volatile.Read(ref _sweepAt))
        {
            return;
        }

        lock (_sweepGate)
        {
            if (Volatile.Read(ref _added) < _sweepAt)
            {
                return; // another lookup swept meanwhile
            }

            var now = _time.GetUtcNow().UtcTicks;
            foreach (var entry in _cache)
            {
                if (entry.Value.ValidUntil <= now)
                {
                    _cache.TryRemove(entry);
                }
            }

            foreach (var entry in _namesakes)
            {
                if (entry.Value.ValidUntil <= now)
                {
                    _namesakes.TryRemove(entry);
                }
            }

            Volatile.Write(ref _added, 0);
            Volatile.Write(ref _sweepAt, Math.Max(SweepEvery, _cache.Count + _namesakes.Count));
        }
    }

    private sealed record Entry(bool Exists, string Owner, ModelVisibility Visibility, bool LogsPayloads, long ValidUntil);

    private sealed record Namesakes((string Owner, ModelVisibility Visibility)[] Owners, long ValidUntil);
}
