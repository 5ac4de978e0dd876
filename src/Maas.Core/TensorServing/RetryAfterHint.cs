using System.Diagnostics;

namespace Maas.Core.TensorServing;

/// <summary>
/// The Retry-After a model's queue-full refusals give. At the configured least while admissions keep up; while
/// refusals outnumber admissions it grows so the refused clients, who wait it out and come back, return at about the
/// rate places open (refused clients waiting = refusals per second x the hint they got, so the hint that spreads
/// them over the admissions is that number over the admissions per second). Each refusal a server answers costs it
/// a connection and part of a body that buys nothing, so fewer of them leave the cores to the admitted requests.
/// Not thread-safe: the scheduler calls it under its lock. Times are <see cref="Stopwatch"/> ticks.
/// </summary>
/// <param name="least">The configured Retry-After, given while refusals do not outnumber admissions.</param>
/// <param name="most">The longest hint.</param>
/// <param name="start">When the first one-second window starts (Stopwatch ticks).</param>
public sealed class RetryAfterHint(TimeSpan least, TimeSpan most, long start)
{
    private static readonly long Window = Stopwatch.Frequency; // one second of Stopwatch ticks
    private readonly int _least = Math.Max(1, (int)Math.Ceiling(least.TotalSeconds));
    private readonly int _most = Math.Max(1, (int)Math.Ceiling(Math.Max(least.TotalSeconds, most.TotalSeconds)));
    private long _windowStart = start;
    private int _admitted;
    private int _refused;
    private int _seconds = -1;

    private int Seconds => _seconds < 0 ? _least : _seconds;

    /// <summary>The hint, in whole seconds, a refusal at <paramref name="now"/> would get.</summary>
    public int SecondsAt(long now)
    {
        Roll(now);
        return Seconds;
    }

    /// <summary>Counts an admitted request at <paramref name="now"/> (Stopwatch ticks).</summary>
    public void Admitted(long now)
    {
        Roll(now);
        _admitted++;
    }

    /// <summary>Counts a refusal at <paramref name="now"/> and returns the Retry-After to give with it.</summary>
    public TimeSpan Refused(long now)
    {
        Roll(now);
        _refused++;
        return TimeSpan.FromSeconds(Seconds);
    }

    // At the end of each one-second window: the refused clients of that window come back after the hint they got,
    // so spreading them over the window's admissions takes hint x refused / admitted seconds.
    private void Roll(long now)
    {
        var elapsed = now - _windowStart;
        if (elapsed < Window)
        {
            return;
        }

        if (elapsed >= 2 * Window)
        {
            // A whole second without any call after the last window: nobody is being turned away now.
            _seconds = _least;
            _windowStart = now;
        }
        else
        {
            _seconds = _refused == 0
                ? _least
                : (int)Math.Clamp(Math.Ceiling(Seconds * (double)_refused / Math.Max(1, _admitted)), _least, _most);
            _windowStart += Window;
        }

        _admitted = 0;
        _refused = 0;
    }
}
