using Maas.Core.Hosting;
using Maas.Core.Training;
using Maas.Training;
using Microsoft.Extensions.Time.Testing;

namespace Maas.Server.Tests.Training;

/// <summary>
/// The duty cycle by which in-process training gives way to serving: waits computed from the batch time and the
/// share, none while serving is idle, on a fake clock that only the test moves, and cancellation ends a wait.
/// </summary>
public sealed class ServingYieldTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly ServingActivity _activity = new();

    [Theory]
    [InlineData(100, 0.5, 100)]
    [InlineData(100, 0.25, 300)]
    [InlineData(90, 0.75, 30)]
    [InlineData(100, 1.0, 0)]
    public void The_wait_after_a_busy_batch_leaves_training_its_share_of_the_time(int computedMs, double share, int waitMs)
    {
        var wait = ServingDutyCycle.Wait(TimeSpan.FromMilliseconds(computedMs), share, busy: true);
        Assert.Equal(waitMs, wait.TotalMilliseconds, precision: 6);
        if (wait > TimeSpan.Zero)
        {
            Assert.Equal(share, computedMs / (computedMs + wait.TotalMilliseconds), precision: 9);
        }

        Assert.Equal(TimeSpan.Zero, ServingDutyCycle.Wait(TimeSpan.FromMilliseconds(computedMs), share, busy: false));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.5)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void A_share_outside_zero_to_one_is_refused_by_the_policy_and_the_configuration(double share)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ServingDutyCycle.Wait(TimeSpan.FromSeconds(1), share, busy: true));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ServingYieldGate(_activity, share, _time));
        var errors = new TrainingOptions { ServingShare = share }.Validate();
        Assert.Contains(errors, e => e.Contains("Maas:Training:ServingShare", StringComparison.Ordinal));
    }

    [Fact]
    public void The_default_share_is_valid_and_one_turns_yielding_off()
    {
        Assert.Empty(new TrainingOptions().Validate());
        Assert.True(new TrainingOptions().ServingShare is > 0 and < 1);
        Assert.Null(new ServingYield(_activity, 1).NewGate());
        Assert.NotNull(new ServingYield(_activity, 0.5).NewGate());
    }

    [Fact]
    public void Training_does_not_wait_while_serving_is_idle()
    {
        var gate = new ServingYieldGate(_activity, 0.25, _time);
        var changes = new List<bool>();
        gate.YieldingChanged += changes.Add;
        for (var i = 0; i < 100; i++)
        {
            // The clock never moves: a wait would block this thread for good.
            gate.AfterBatch(TimeSpan.FromSeconds(1), CancellationToken.None);
        }

        Assert.Equal((100L, 0L, TimeSpan.Zero, false), (gate.Batches, gate.ServingBatches, gate.Waited, gate.Yielding));
        Assert.Empty(changes);
    }

    [Fact]
    public async Task A_batch_that_overlapped_a_request_waits_its_share_and_the_next_idle_one_does_not()
    {
        var gate = new ServingYieldGate(_activity, 0.5, _time);
        var changes = new List<bool>();
        gate.YieldingChanged += changes.Add;

        // A request comes and goes while the batch computes.
        _activity.Started();
        _activity.Ended();
        var batch = Task.Run(() => gate.AfterBatch(TimeSpan.FromMilliseconds(400), CancellationToken.None));
        await Conditions.WaitUntilAsync(() => gate.IsWaiting, "the gate waits");
        Assert.True(gate.Yielding);
        Assert.Equal([true], changes);
        _time.Advance(TimeSpan.FromMilliseconds(399));
        Assert.False(batch.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await batch;
        Assert.Equal((1L, TimeSpan.FromMilliseconds(400)), (gate.ServingBatches, gate.Waited));

        // Nothing served since: the next batch goes on at once, still reported as yielding until serving has been idle a while.
        gate.AfterBatch(TimeSpan.FromMilliseconds(400), CancellationToken.None);
        Assert.Equal((2L, 1L, true), (gate.Batches, gate.ServingBatches, gate.Yielding));
        _time.Advance(ServingYieldGate.IdleAfter);
        gate.AfterBatch(TimeSpan.FromMilliseconds(400), CancellationToken.None);
        Assert.False(gate.Yielding);
        Assert.Equal([true, false], changes);
        Assert.Equal(TimeSpan.FromMilliseconds(400), gate.Waited);
    }

    [Fact]
    public async Task A_request_that_holds_its_model_keeps_training_yielding_without_new_requests()
    {
        var gate = new ServingYieldGate(_activity, 0.5, _time);
        _activity.Started(); // a long request (a generation) holds its model throughout
        for (var i = 1; i <= 3; i++)
        {
            var batch = Task.Run(() => gate.AfterBatch(TimeSpan.FromMilliseconds(100), CancellationToken.None));
            await Conditions.WaitUntilAsync(() => gate.IsWaiting, "the gate waits");
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await batch;
            Assert.Equal(i, gate.ServingBatches);
        }

        // Given back during the fourth batch: that one overlapped serving, the fifth does not.
        _activity.Ended();
        var fourth = Task.Run(() => gate.AfterBatch(TimeSpan.FromMilliseconds(100), CancellationToken.None));
        await Conditions.WaitUntilAsync(() => gate.IsWaiting, "the gate waits");
        _time.Advance(TimeSpan.FromMilliseconds(100));
        await fourth;
        gate.AfterBatch(TimeSpan.FromMilliseconds(100), CancellationToken.None);
        Assert.Equal((5L, 4L), (gate.Batches, gate.ServingBatches));
    }

    [Fact]
    public async Task Cancelling_the_job_ends_a_wait_at_once()
    {
        var gate = new ServingYieldGate(_activity, 0.1, _time);
        using var cancel = new CancellationTokenSource();
        _activity.Started();
        var batch = Task.Run(() => gate.AfterBatch(TimeSpan.FromHours(1), cancel.Token));
        await Conditions.WaitUntilAsync(() => gate.IsWaiting, "the gate waits");
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => batch);
        Assert.False(gate.IsWaiting);
        Assert.Equal(TimeSpan.Zero, gate.Waited);
    }
}
