namespace Maas.Testing;

/// <summary>
/// The system clock, which a test moves forward at once or holds still: behaviour that depends on elapsed time
/// (keep-alive, rate windows, key expiry) is tested without waiting for that time to pass, and without racing a busy
/// machine's clock. Give it to a server as its <see cref="TimeProvider"/>. Timers and delays made from it keep real
/// time, so the server's background loops run as usual; only what reads the time sees it moved.
/// </summary>
public sealed class AdjustableClock : TimeProvider
{
    private readonly Lock _lock = new();
    private TimeSpan _ahead;
    private DateTimeOffset? _heldAt;

    /// <inheritdoc />
    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock)
        {
            return _heldAt ?? System.GetUtcNow() + _ahead;
        }
    }

    // Timestamps follow the same time, so durations measured on this clock see its moves too.

    /// <inheritdoc />
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <inheritdoc />
    public override long GetTimestamp() => GetUtcNow().UtcTicks;

    /// <summary>Moves the clock forward by <paramref name="time"/> at once.</summary>
    public void Advance(TimeSpan time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(time, TimeSpan.Zero);
        lock (_lock)
        {
            if (_heldAt is { } at)
            {
                _heldAt = at + time;
            }
            else
            {
                _ahead += time;
            }
        }
    }

    /// <summary>Moves the clock forward to the next multiple of <paramref name="window"/> since the Unix epoch (the start of a fresh aligned window).</summary>
    public void AdvanceToWindowStart(TimeSpan window)
    {
        lock (_lock)
        {
            var windowMs = (long)window.TotalMilliseconds;
            var intoWindow = GetUtcNow().ToUnixTimeMilliseconds() % windowMs;
            Advance(TimeSpan.FromMilliseconds(windowMs - intoWindow));
        }
    }

    /// <summary>Holds the clock still (it still moves by <see cref="Advance"/>) until the returned scope is disposed; then it runs on from where it stood.</summary>
    public IDisposable Hold()
    {
        lock (_lock)
        {
            _heldAt ??= System.GetUtcNow() + _ahead;
        }

        return new Holding(this);
    }

    private void Release()
    {
        lock (_lock)
        {
            if (_heldAt is { } at)
            {
                _ahead = at - System.GetUtcNow();
                _heldAt = null;
            }
        }
    }

    private sealed class Holding(AdjustableClock clock) : IDisposable
    {
        public void Dispose() => clock.Release();
    }
}
