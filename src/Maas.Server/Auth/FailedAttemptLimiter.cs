using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Options;

namespace Maas.Server.Auth;

/// <summary>
/// Slows down key guessing: each client address may fail authentication a limited number of times per window;
/// after that it gets 429 without its key being looked at (no hashing, no database).
/// </summary>
public sealed class FailedAttemptLimiter(TimeProvider time, IOptions<AuthOptions> options)
{
    private const int SweepThreshold = 10_000;

    private readonly ConcurrentDictionary<IPAddress, Window> _clients = new();
    private readonly long _windowMs = (long)(options.Value.FailedAttemptWindowSeconds * 1000);
    private readonly int _limit = options.Value.FailedAttemptsPerWindow;

    /// <summary>How long the client must wait before trying again, or null when it may try now.</summary>
    public TimeSpan? BlockedFor(IPAddress? client)
    {
        if (client is null || !_clients.TryGetValue(Normalize(client), out var window))
        {
            return null;
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (window)
        {
            if (now >= window.Start + _windowMs || window.Failures < _limit)
            {
                return null;
            }

            return TimeSpan.FromMilliseconds(window.Start + _windowMs - now);
        }
    }

    /// <summary>Counts one failed attempt of <paramref name="client"/>.</summary>
    public void RecordFailure(IPAddress? client)
    {
        if (client is null)
        {
            return;
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (_clients.Count > SweepThreshold)
        {
            Sweep(now);
        }

        var window = _clients.GetOrAdd(Normalize(client), _ => new Window { Start = now });
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
    }

    // An IPv4 client may arrive as ::ffff:a.b.c.d on a dual-stack socket; count it as one address.
    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private sealed class Window
    {
        public long Start;
        public int Failures;
    }
}
