using System.Globalization;
using Maas.Core.Hosting;
using Maas.Core.Jobs.Queue;

namespace Maas.Training;

/// <summary>
/// A trainer's gate that yields to serving in this process (see <see cref="ServingDutyCycle"/>): a batch during which a
/// request took a model, or while one held it, is followed by a wait; cancellation ends the wait at once. It is
/// "yielding" from the first such batch until serving has been idle for <see cref="IdleAfter"/>, and says so through
/// <see cref="YieldingChanged"/> (the job reports it). One gate per job, asked from the job's training thread.
/// </summary>
public sealed class ServingYieldGate : ITrainingGate
{
    /// <summary>How long serving must stay idle before training reports it no longer yields (so bursts do not flap the status).</summary>
    public static readonly TimeSpan IdleAfter = TimeSpan.FromSeconds(2);

    private readonly ServingActivity _activity;
    private readonly TimeProvider _time;
    private ServingActivitySnapshot _last;
    private DateTimeOffset _lastBusy;
    private long _batches;
    private long _servingBatches;
    private long _waitedTicks;
    private int _waiting;
    private int _yielding;

    /// <summary>Creates the gate; <paramref name="share"/> is validated like <c>Maas:Training:ServingShare</c>.</summary>
    public ServingYieldGate(ServingActivity activity, double share, TimeProvider? time = null)
    {
        _ = ServingDutyCycle.Wait(TimeSpan.Zero, share, busy: false); // validates the share
        _activity = activity;
        Share = share;
        _time = time ?? TimeProvider.System;
        _last = activity.Read();
    }

    /// <summary>Raised on the training thread when training starts (true) or stops (false) yielding to serving.</summary>
    public event Action<bool>? YieldingChanged;

    /// <summary>The share of time training computes while serving is busy.</summary>
    public double Share { get; }

    /// <summary>Batches seen.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Batches that overlapped serving (each followed by a wait).</summary>
    public long ServingBatches => Interlocked.Read(ref _servingBatches);

    /// <summary>Time spent waiting for serving (waits cut short by cancellation not counted).</summary>
    public TimeSpan Waited => TimeSpan.FromTicks(Interlocked.Read(ref _waitedTicks));

    /// <summary>True while a wait is under way.</summary>
    public bool IsWaiting => Volatile.Read(ref _waiting) == 1;

    /// <summary>True from a batch that overlapped serving until serving has been idle for <see cref="IdleAfter"/>.</summary>
    public bool Yielding => Volatile.Read(ref _yielding) == 1;

    /// <summary>The job's stage: <paramref name="yieldingStage"/> while <see cref="Yielding"/>, else <paramref name="runningStage"/>.</summary>
    public string Stage(string runningStage, string yieldingStage) => Yielding ? yieldingStage : runningStage;

    /// <summary>
    /// Reports every change of <see cref="Yielding"/> to <paramref name="run"/>: an event of <paramref name="eventType"/>
    /// (<c>{"message", "yielding", "serving_share"}</c>, the message naming <paramref name="what"/> trains) and the
    /// progress with the stage of <see cref="Stage"/>. The change is raised on the training thread right before it
    /// waits, so both are written before training goes on.
    /// </summary>
    public void ReportTo(JobRun run, string eventType, string what, string runningStage, string yieldingStage)
    {
        ArgumentNullException.ThrowIfNull(run);
        YieldingChanged += yielding =>
        {
            var share = Share.ToString("P0", CultureInfo.InvariantCulture);
            var message = yielding
                ? $"Serving is busy in this process: {what} yields to it, computing at most {share} of the time (Maas:Training:ServingShare)"
                : $"Serving has been idle for {IdleAfter.TotalSeconds:0} s: {what} at full speed";
            run.EventAsync(eventType, new { message, yielding, serving_share = Share }).GetAwaiter().GetResult();
            run.ReportAsync(run.Progress with { Stage = Stage(runningStage, yieldingStage) }).GetAwaiter().GetResult();
        };
    }

    /// <inheritdoc />
    public void AfterBatch(TimeSpan computed, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Interlocked.Increment(ref _batches);
        var busy = _activity.Read().BusySince(_last);
        var now = _time.GetUtcNow();
        if (busy)
        {
            Interlocked.Increment(ref _servingBatches);
            _lastBusy = now;
            SetYielding(true);
            var wait = ServingDutyCycle.Wait(computed, Share, busy);
            if (wait > TimeSpan.Zero)
            {
                // A blocking wait on the training thread (the trainer is synchronous); cancelling ends it. A timer of
                // the exact wait (Task.Delay with a TimeProvider counts whole milliseconds), started before the gate
                // says it waits, so a clock moved by the wait from then on ends it.
                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                using var timer = _time.CreateTimer(static s => ((TaskCompletionSource)s!).TrySetResult(), done, wait, Timeout.InfiniteTimeSpan);
                Volatile.Write(ref _waiting, 1);
                try
                {
                    done.Task.Wait(cancellationToken);
                }
                finally
                {
                    Volatile.Write(ref _waiting, 0);
                }

                Interlocked.Add(ref _waitedTicks, wait.Ticks);
            }
        }
        else if (Yielding && now - _lastBusy >= IdleAfter)
        {
            SetYielding(false);
        }

        // Read after the wait: the next batch answers for what happens while it computes.
        _last = _activity.Read();
    }

    private void SetYielding(bool yielding)
    {
        if (Interlocked.Exchange(ref _yielding, yielding ? 1 : 0) != (yielding ? 1 : 0))
        {
            YieldingChanged?.Invoke(yielding);
        }
    }
}
