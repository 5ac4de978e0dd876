using System.Collections.Concurrent;
using Maas.Core.Tenancy;
using Microsoft.Extensions.Options;

namespace Maas.Server.Auth;

/// <summary>
/// Turns a presented secret into a key with at most one database query, and usually none: hits come from a cache
/// keyed by the secret's SHA-256 (never by the secret itself), misses read the candidates by visible prefix and
/// compare salted hashes in constant time. Unknown secrets are remembered briefly too.
/// </summary>
/// <remarks>
/// Revocation: the node that revokes drops its cache at once (<see cref="Invalidate"/>), so its next request
/// already fails; every key change also moves a counter in the database that each node polls
/// (Maas:Auth:ChangePollMs), so the other nodes drop their caches within that interval. Maas:Auth:KeyCacheSeconds
/// = 0 reads the key on every request instead (strictly next-request revocation everywhere, one query per request).
/// </remarks>
public sealed class ApiKeyAuthenticator
{
    private const int MaxCachedEntries = 100_000;

    private readonly ITenancyStore _store;
    private readonly LimitTracker _tracker;
    private readonly TimeProvider _time;
    private readonly long _ttlTicks;
    private readonly long _unknownTtlTicks;
    private readonly ConcurrentDictionary<KeyDigest, Cached> _cache = new();
    private readonly ConcurrentDictionary<string, (UsageLimits Limits, long ValidUntil)> _tenantLimits = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<KeyDigest, Lazy<Task<(KeyEntry? Entry, bool FromDatabase)>>> _inflight = new();
    private long _generation;
    private long _lookups;

    /// <summary>Creates the authenticator.</summary>
    public ApiKeyAuthenticator(ITenancyStore store, LimitTracker tracker, TimeProvider time, IOptions<AuthOptions> options)
    {
        _store = store;
        _tracker = tracker;
        _time = time;
        _ttlTicks = TimeSpan.FromSeconds(options.Value.KeyCacheSeconds).Ticks;
        _unknownTtlTicks = TimeSpan.FromSeconds(options.Value.UnknownKeyCacheSeconds).Ticks;
    }

    /// <summary>How many times the database was asked for a key (tests check "at most once per request").</summary>
    public long DatabaseLookups => Interlocked.Read(ref _lookups);

    /// <summary>Forgets every cached key: the next request of each key reads it again.</summary>
    public void Invalidate()
    {
        Interlocked.Increment(ref _generation);
        _cache.Clear();
        _tenantLimits.Clear();
    }

    /// <summary>A tenant's limits for calls without a key (anonymous local development), cached like keys.</summary>
    public async ValueTask<UsageLimits> GetTenantLimitsAsync(string tenant, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcTicks;
        if (_tenantLimits.TryGetValue(tenant, out var cached) && cached.ValidUntil > now)
        {
            return cached.Limits;
        }

        var limits = (await _store.GetTenantAsync(tenant, cancellationToken).ConfigureAwait(false))?.Limits ?? UsageLimits.None;
        _tenantLimits[tenant] = (limits, now + Math.Max(_ttlTicks, TimeSpan.TicksPerSecond));
        return limits;
    }

    /// <summary>Looks up a well-formed secret; the entry is null when no key matches.</summary>
    public async ValueTask<(KeyStatus Status, KeyEntry? Entry)> AuthenticateAsync(string secret, CancellationToken cancellationToken)
    {
        if (!ApiKeySecrets.IsWellFormed(secret))
        {
            return (KeyStatus.Unknown, null);
        }

        var digest = ApiKeySecrets.Digest(secret);
        var now = _time.GetUtcNow();
        if (_cache.TryGetValue(digest, out var cached) && cached.ValidUntil > now.UtcTicks)
        {
            return cached.Entry is { } hit ? (hit.StatusAt(now), hit) : (KeyStatus.Unknown, null);
        }

        // One query per distinct key at a time: concurrent first requests of a new key share it.
        var generation = Interlocked.Read(ref _generation);
        // Lazy: GetOrAdd may build a value it then throws away; only the winner's query runs.
        var lookup = _inflight.GetOrAdd(digest, _ => new Lazy<Task<(KeyEntry?, bool)>>(() => LoadAsync(secret, digest, generation))).Value;
        var (entry, _) = await lookup.WaitAsync(cancellationToken).ConfigureAwait(false);
        return entry is null ? (KeyStatus.Unknown, null) : (entry.StatusAt(_time.GetUtcNow()), entry);
    }

    private async Task<(KeyEntry? Entry, bool FromDatabase)> LoadAsync(string secret, KeyDigest digest, long generation)
    {
        await Task.Yield(); // leave the dictionary's GetOrAdd before doing I/O
        try
        {
            return await LoadCoreAsync(secret, digest, generation).ConfigureAwait(false);
        }
        finally
        {
            // Only this task was registered for the digest while it ran, so removing by key removes this one.
            _inflight.TryRemove(digest, out _);
        }
    }

    private async Task<(KeyEntry? Entry, bool FromDatabase)> LoadCoreAsync(string secret, KeyDigest digest, long generation)
    {
        Interlocked.Increment(ref _lookups);
        var candidates = await _store.FindKeysByPrefixAsync(ApiKeySecrets.PrefixOf(secret), CancellationToken.None).ConfigureAwait(false);
        KeyEntry? found = null;
        var now = _time.GetUtcNow();
        foreach (var (key, tenantLimits, tenantDisabled) in candidates)
        {
            if (!ApiKeySecrets.Verify(secret, key.Salt, key.Hash))
            {
                continue;
            }

            // Prefer a usable row: MAAS_ADMIN_KEY may be re-created after an earlier row of it was revoked.
            var entry = new KeyEntry(key, tenantLimits, tenantDisabled, _tracker);
            if (found is null || (entry.StatusAt(now) == KeyStatus.Valid && found.StatusAt(now) != KeyStatus.Valid))
            {
                found = entry;
            }
        }

        var ttl = found is null ? _unknownTtlTicks : _ttlTicks;
        if (ttl > 0 && Interlocked.Read(ref _generation) == generation)
        {
            if (_cache.Count >= MaxCachedEntries)
            {
                _cache.Clear(); // a flood of distinct secrets; the brute-force limit slows it, this bounds memory
            }

            _cache[digest] = new Cached(found, now.UtcTicks + ttl);
        }

        return (found, true);
    }

    private sealed record Cached(KeyEntry? Entry, long ValidUntil);
}
