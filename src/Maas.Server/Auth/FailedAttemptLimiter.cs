using System.Collections.Concurrent;
using System.Net;
using Maas.Core.Tenancy;
using Microsoft.Extensions.Options;

namespace Maas.Server.Auth;

/// <summary>
/// Slows down key guessing without letting one client lock out everyone behind its address. Failed authentications
/// are counted per client address and per presented key prefix (the first 12 characters, which a guesser of random
/// keys changes every time, and a client stuck on one bad key does not). Past a limit the address, or the prefix, gets
/// 429 without the key being looked at (no hashing, no database), with two exceptions that keep a blocked address
/// usable for others: a key whose prefix authenticated lately is still checked (its failures count against its
/// prefix), since a guesser cannot know such prefixes.
/// </summary>
public sealed class FailedAttemptLimiter(TimeProvider time, IOptions<AuthOptions> options)
{
    private const int SweepThreshold = 10_000;
    private const int MaxKnownPrefixes = 100_000;

    // How often a failure may look at the sizes and sweep: a full sweep per failure, while a spread-out guesser keeps
    // more than SweepThreshold windows live, would cost each bad request a walk of every entry.
    private const long SweepEveryMs = 1000;

    private readonly ConcurrentDictionary<IPAddress, Window> _clients = new();
    private readonly ConcurrentDictionary<string, Window> _prefixes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _goodPrefixes = new(StringComparer.Ordinal);
    private readonly long _windowMs = (long)(options.Value.FailedAttemptWindowSeconds * 1000);
    private readonly long _goodForMs = (long)(options.Value.KnownKeyPrefixHours * 3_600_000);
    private readonly int _limit = options.Value.FailedAttemptsPerWindow;
    private readonly int _prefixLimit = options.Value.FailedAttemptsPerKeyPrefix;
    private long _nextSweepAt;
    private int _sweeps;

    /// <summary>Windows kept now, by client address and by key prefix (tests check that they are swept).</summary>
    internal int Tracked => _clients.Count + _prefixes.Count;

    /// <summary>Sweeps run so far (tests check that failures do not each walk every entry).</summary>
    internal int Sweeps => Volatile.Read(ref _sweeps);

    /// <summary>How long a client presenting <paramref name="secret"/> must wait before trying again, or null when it may try now.</summary>
    public TimeSpan? BlockedFor(IPAddress? client, string? secret = null)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var prefix = PrefixOf(secret);
        if (prefix is not null && _prefixes.TryGetValue(prefix, out var byPrefix) && Wait(byPrefix, _prefixLimit, now) is { } prefixWait)
        {
            return prefixWait;
        }

        if (client is null || !_clients.TryGetValue(Normalize(client), out var byClient) || Wait(byClient, _limit, now) is not { } wait)
        {
            return null;
        }

        // The address is blocked; a key whose prefix authenticated lately is someone else behind it: let it be checked.
        return prefix is not null && _goodPrefixes.TryGetValue(prefix, out var lastGood) && now - lastGood < _goodForMs ? null : wait;
    }

    /// <summary>Counts one failed attempt of <paramref name="client"/>, presenting <paramref name="secret"/> (null when it sent none).</summary>
    public void RecordFailure(IPAddress? client, string? secret = null)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (now >= Interlocked.Read(ref _nextSweepAt) && Interlocked.Exchange(ref _nextSweepAt, now + SweepEveryMs) <= now
            && _clients.Count + _prefixes.Count > SweepThreshold)
        {
            Interlocked.Increment(ref _sweeps);
            Sweep(now);
        }

        if (client is not null)
        {
            Count(_clients.GetOrAdd(Normalize(client), _ => new Window { Start = now }), now);
        }

        if (PrefixOf(secret) is { } prefix)
        {
            Count(_prefixes.GetOrAdd(prefix, _ => new Window { Start = now }), now);
        }
    }

    /// <summary>Notes that a key with <paramref name="secret"/>'s prefix authenticated: its prefix stays usable from a blocked address.</summary>
    public void RecordSuccess(string secret)
    {
        if (PrefixOf(secret) is not { } prefix)
        {
            return;
        }

        if (_goodPrefixes.Count >= MaxKnownPrefixes && !_goodPrefixes.ContainsKey(prefix))
        {
            _goodPrefixes.Clear(); // bounded memory; the keys in use show up again with their next request
        }

        _goodPrefixes[prefix] = time.GetUtcNow().ToUnixTimeMilliseconds();
    }

    private TimeSpan? Wait(Window window, int limit, long now)
    {
        lock (window)
        {
            if (now >= window.Start + _windowMs || window.Failures < limit)
            {
                return null;
            }

            return TimeSpan.FromMilliseconds(window.Start + _windowMs - now);
        }
    }

    private void Count(Window window, long now)
    {
        lock (window)
        {
            if (now >= window.Start + _windowMs)
            {
                window.Start = now;
                window.Failures = 0;
            }

            window.Failures++;
        }
    }

    private void Sweep(long now)
    {
        foreach (var (address, window) in _clients)
        {
            if (now >= window.Start + _windowMs)
            {
                _clients.TryRemove(address, out _);
            }
        }

        foreach (var (prefix, window) in _prefixes)
        {
            if (now >= window.Start + _windowMs)
            {
                _prefixes.TryRemove(prefix, out _);
            }
        }
    }

    private static string? PrefixOf(string? secret) =>
        secret is { Length: >= ApiKeySecrets.MinLength } ? ApiKeySecrets.PrefixOf(secret) : null;

    // An IPv4 client may arrive as ::ffff:a.b.c.d on a dual-stack socket; count it as one address.
    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private sealed class Window
    {
        public long Start;
        public int Failures;
    }
}
