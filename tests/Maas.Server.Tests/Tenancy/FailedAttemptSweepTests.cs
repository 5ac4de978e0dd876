using System.Net;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Testing;
using Microsoft.Extensions.Options;

namespace Maas.Server.Tests.Tenancy;

/// <summary>
/// The failed-attempt limiter's windows are swept once they have run out, at most once a second: a guesser spreading
/// random keys over many addresses keeps thousands of windows live, and a sweep per failure then walked every one
/// of them for each bad request.
/// </summary>
public sealed class FailedAttemptSweepTests
{
    [Fact]
    public void Failures_past_the_sweep_threshold_sweep_at_most_once_a_second_and_expired_windows_go()
    {
        var clock = new AdjustableClock();
        using var held = clock.Hold();
        var limiter = new FailedAttemptLimiter(clock, Options.Create(new AuthOptions()));

        // 6000 addresses each presenting a key of its own: 12000 windows, all live within the minute.
        for (var i = 0; i < 6000; i++)
        {
            limiter.RecordFailure(new IPAddress([10, (byte)(i >> 16), (byte)(i >> 8), (byte)i]), ApiKeySecrets.Generate());
        }

        Assert.Equal(12_000, limiter.Tracked);
        Assert.InRange(limiter.Sweeps, 0, 1); // the same instant: one look at most, not one per failure past 10000

        // Past the window: the next failure sweeps the expired ones out, and the next few in the same second do not.
        clock.Advance(TimeSpan.FromSeconds(new AuthOptions().FailedAttemptWindowSeconds + 2));
        var sweeps = limiter.Sweeps;
        for (var i = 0; i < 100; i++)
        {
            limiter.RecordFailure(IPAddress.Parse("192.0.2.7"), ApiKeySecrets.Generate());
        }

        Assert.Equal(sweeps + 1, limiter.Sweeps);
        Assert.Equal(101, limiter.Tracked); // the one address and the 100 prefixes it sent since
    }
}
