using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Maas.Server.TensorInference;

/// <summary>
/// A token bucket per client address for new connections: <c>rate</c> connections a second with bursts of
/// <c>burst</c>. Clients that ignore Retry-After and reconnect at once after every 429 otherwise take the server's CPU
/// in accepts and refusals; over the rate, their connections are refused before a byte of them is parsed. IPv6
/// clients are counted per /64 (one host's whole prefix), IPv4-mapped addresses as IPv4. Pure and thread-safe.
/// </summary>
public sealed class AddressConnectionRate
{
    // Beyond this many tracked addresses, idle ones (whose buckets are full again) are dropped, so that a flood of
    // addresses cannot grow the table without end.
    private const int MaxTrackedAddresses = 65_536;

    private readonly double _perSecond;
    private readonly double _burst;
    private readonly IReadOnlyList<IPNetwork> _exempt;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<IPAddress, Bucket> _buckets = new();
    private long _refused;
    private long _lastSweep;

    /// <summary>Creates the limit.</summary>
    /// <param name="perSecond">New connections a second per address (more than 0).</param>
    /// <param name="burst">How many may come at once after a quiet spell (at least 1).</param>
    /// <param name="exempt">Networks never limited (trusted proxies, which carry many clients' connections).</param>
    /// <param name="time">The clock.</param>
    public AddressConnectionRate(double perSecond, int burst, IReadOnlyList<IPNetwork> exempt, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perSecond);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(burst);
        _perSecond = perSecond;
        _burst = burst;
        _exempt = exempt;
        _time = time;
    }

    /// <summary>Connections refused so far.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Addresses tracked now.</summary>
    public int TrackedAddresses => _buckets.Count;

    /// <summary>Takes a token for a new connection from <paramref name="address"/>; false when its rate is used up.</summary>
    public bool TryAdmit(IPAddress address)
    {
        var key = KeyOf(address);
        if (_exempt.Any(n => n.Contains(key)))
        {
            return true;
        }

        var now = _time.GetTimestamp();
        if (_buckets.Count >= MaxTrackedAddresses && !_buckets.ContainsKey(key))
        {
            DropIdle(now);
            if (_buckets.Count >= MaxTrackedAddresses)
            {
                return true; // every tracked address is busy: a new one is let through rather than refused untracked
            }
        }

        var bucket = _buckets.GetOrAdd(key, static (_, state) => new Bucket(state.Burst, state.Now), (Burst: _burst, Now: now));
        lock (bucket)
        {
            var elapsed = _time.GetElapsedTime(bucket.At, now).TotalSeconds;
            bucket.Tokens = Math.Min(_burst, bucket.Tokens + (Math.Max(0, elapsed) * _perSecond));
            bucket.At = now;
            if (bucket.Tokens >= 1)
            {
                bucket.Tokens -= 1;
                return true;
            }
        }

        Interlocked.Increment(ref _refused);
        return false;
    }

    /// <summary>Seconds until <paramref name="address"/> may connect again (at least 1, for Retry-After).</summary>
    public int RetryAfterSeconds(IPAddress address)
    {
        if (!_buckets.TryGetValue(KeyOf(address), out var bucket))
        {
            return 1;
        }

        lock (bucket)
        {
            return Math.Max(1, (int)Math.Ceiling((1 - bucket.Tokens) / _perSecond));
        }
    }

    /// <summary>The address a client is counted under: IPv4 as it is, IPv6 by its /64.</summary>
    public static IPAddress KeyOf(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes);
    }

    private void DropIdle(long now)
    {
        // At most one sweep a second: under a flood of new addresses a sweep per connection would cost more than it saves.
        var last = Interlocked.Read(ref _lastSweep);
        if ((last != 0 && _time.GetElapsedTime(last, now) < TimeSpan.FromSeconds(1)) || Interlocked.CompareExchange(ref _lastSweep, now, last) != last)
        {
            return;
        }

        var refill = TimeSpan.FromSeconds(_burst / _perSecond);
        foreach (var (key, bucket) in _buckets)
        {
            lock (bucket)
            {
                if (_time.GetElapsedTime(bucket.At, now) >= refill)
                {
                    _buckets.TryRemove(key, out _);
                }
            }
        }
    }

    private sealed class Bucket(double tokens, long at)
    {
        public double Tokens { get; set; } = tokens;

        public long At { get; set; } = at;
    }
}
