using System.Diagnostics;
using Maas.Core.TensorServing;

namespace Maas.Core.Tests.TensorServing;

/// <summary>The Retry-After of queue-full refusals spreads the refused clients' returns over the places that open.</summary>
public sealed class RetryAfterHintTests
{
    private static readonly long Second = Stopwatch.Frequency;

    // Plays one second of traffic: `admitted` admissions and `refused` refusals spread over it; returns the hints given.
    private static List<int> PlaySecond(RetryAfterHint hint, ref long now, int admitted, int refused)
    {
        var given = new List<int>();
        var calls = admitted + refused;
        for (var i = 0; i < calls; i++)
        {
            var at = now + (Second * i / calls);
            // The refusals spread evenly among the admissions.
            if ((long)(i + 1) * refused / calls != (long)i * refused / calls)
            {
                given.Add((int)hint.Refused(at).TotalSeconds);
            }
            else
            {
                hint.Admitted(at);
            }
        }

        now += Second;
        return given;
    }

    [Fact]
    public void While_admissions_keep_up_the_configured_retry_after_is_given()
    {
        long now = 0;
        var hint = new RetryAfterHint(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), now);
        for (var s = 0; s < 5; s++)
        {
            Assert.All(PlaySecond(hint, ref now, admitted: 100, refused: 40), h => Assert.Equal(1, h));
        }
    }

    [Fact]
    public void Refusals_outnumbering_admissions_lengthen_it_in_proportion_and_it_falls_back_when_they_stop()
    {
        long now = 0;
        var hint = new RetryAfterHint(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), now);
        // 50x overload: about 150 refusals a second against 110 admissions: the refused come back over 2 s, not 1 s.
        PlaySecond(hint, ref now, admitted: 110, refused: 150);
        Assert.Equal(2, hint.SecondsAt(now));
        // With the longer hint half as many come back each second, and the hint holds there.
        PlaySecond(hint, ref now, admitted: 110, refused: 75);
        Assert.Equal(2, hint.SecondsAt(now));
        // Four times as many refused as admitted: four seconds (times the hint they got).
        PlaySecond(hint, ref now, admitted: 100, refused: 200);
        Assert.Equal(4, hint.SecondsAt(now));
        // Nothing refused for a second: back to the configured value.
        PlaySecond(hint, ref now, admitted: 100, refused: 0);
        Assert.Equal(1, hint.SecondsAt(now));
    }

    [Fact]
    public void It_never_passes_the_most_and_a_quiet_gap_resets_it()
    {
        long now = 0;
        var hint = new RetryAfterHint(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5), now);
        Assert.Equal(2, hint.SecondsAt(now));
        PlaySecond(hint, ref now, admitted: 0, refused: 500);
        PlaySecond(hint, ref now, admitted: 0, refused: 500);
        Assert.Equal(5, hint.SecondsAt(now));
        // Ten seconds without a call: nobody is being turned away, so the next refusal gets the configured hint.
        Assert.Equal(2, (int)hint.Refused(now + (10 * Second)).TotalSeconds);
    }
}
