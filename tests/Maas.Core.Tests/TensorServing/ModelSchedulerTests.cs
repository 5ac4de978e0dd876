using Maas.Core.TensorServing;
using Maas.Testing;

namespace Maas.Core.Tests.TensorServing;

public sealed class ModelSchedulerTests
{
    // A Stopwatch timestamp as long ago as the given time: the admission of a request whose body took that long.
    private static long AdmittedAgo(TimeSpan ago) => System.Diagnostics.Stopwatch.GetTimestamp() - (long)(ago.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);

    // The longest delay a scheduler takes. A batch "did not wait for it" when its requests' queue times, as the
    // scheduler measured them, add up to less than it: a test thread stalled by a busy machine does not count.
    private static readonly TimeSpan LongestDelay = TimeSpan.FromSeconds(10);

    private static void NoneWaitedForTheDelay(InferenceStatistics stats, int requests)
    {
        var queue = stats.Snapshot("m", "1").Queue;
        Assert.Equal(requests, queue.Count);
        Assert.True(TimeSpan.FromTicks(queue.Ns / 100) < LongestDelay, $"{requests} requests queued {queue.Ns / 1e9:F3} s in all: the batch waited for the delay");
    }

    private static ModelScheduler Start(CpuBackend backend, SchedulerOptions? options = null, InferenceStatistics? stats = null) =>
        new("m", "1", backend, options ?? new SchedulerOptions(), stats ?? new InferenceStatistics());

    [Fact]
    public async Task Runs_a_request_and_returns_every_output_in_model_order()
    {
        await using var s = Start(new CpuBackend());
        using var r = await s.InferAsync(Requests.Rows(1));
        Assert.Equal(["y", "sum"], r.Outputs.Select(o => o.Name));
        Assert.Equal(new float[] { 3, 5, 7, 9 }, r.Floats("y"));
        Assert.Equal(new float[] { 10 }, r.Floats("sum"));
        Assert.Equal("req-1", r.Id);
        Assert.Equal("1", r.ModelVersion);
    }

    [Fact]
    public async Task Requested_outputs_come_back_alone_and_in_the_asked_order()
    {
        await using var s = Start(new CpuBackend());
        using var r = await s.InferAsync(Requests.Rows(1, outputs: ["sum"]));
        Assert.Equal(["sum"], r.Outputs.Select(o => o.Name));
        using var both = await s.InferAsync(Requests.Rows(1, outputs: ["sum", "y"]));
        Assert.Equal(["sum", "y"], both.Outputs.Select(o => o.Name));
    }

    [Fact]
    public async Task Requests_queued_behind_a_busy_instance_run_as_one_batch_and_split_back()
    {
        var backend = new CpuBackend();
        var stats = new InferenceStatistics();
        await using var s = Start(backend, new SchedulerOptions { MaxBatchSize = 16 }, stats);
        backend.Close();
        var first = s.InferAsync(Requests.Rows(0));
        await Conditions.WaitUntilAsync(() => backend.Started == 1);
        var queued = Enumerable.Range(1, 5).Select(i => s.InferAsync(Requests.Rows(i * 100, rows: i % 2 + 1))).ToArray();
        await Conditions.WaitUntilAsync(() => s.QueueLength == 5);
        backend.Open();
        (await first).Dispose();
        for (var i = 1; i <= 5; i++)
        {
            using var r = await queued[i - 1];
            var rows = i % 2 + 1;
            var expected = Enumerable.Range(0, rows * 4).Select(k => (2 * (i * 100 + k)) + 1f).ToArray();
            Assert.Equal(expected, r.Floats("y"));
            Assert.Equal([rows, 4L], r.Outputs[0].Shape);
            Assert.Equal($"req-{i * 100}", r.Id);
        }

        Assert.Equal([1L, 8L], backend.RunRows); // 1 + (2+1+2+1+2)
        var snap = stats.Snapshot("m", "1");
        Assert.Equal(2, snap.ExecutionCount);
        Assert.Equal(9, snap.InferenceCount);
        Assert.Equal(6, snap.Success.Count);
        Assert.Equal([1L, 8L], snap.BatchStats.Select(b => b.BatchSize));
        Assert.Equal(1, snap.BatchStats.Single(b => b.BatchSize == 8).ComputeInfer.Count);
        Assert.Equal(6, snap.ComputeInfer.Count);
    }

    [Fact]
    public async Task Batches_never_exceed_the_max_batch_size()
    {
        var backend = new CpuBackend();
        await using var s = Start(backend, new SchedulerOptions { MaxBatchSize = 4 });
        backend.Close();
        var first = s.InferAsync(Requests.Rows(0));
        await Conditions.WaitUntilAsync(() => backend.Started == 1);
        var queued = Enumerable.Range(1, 10).Select(i => s.InferAsync(Requests.Rows(i))).ToArray();
        await Conditions.WaitUntilAsync(() => s.QueueLength == 10);
        backend.Open();
        await first;
        await Task.WhenAll(queued);
        Assert.Equal([1L, 4L, 4L, 2L], backend.RunRows);
    }

    [Fact]
    public async Task The_queue_delay_gathers_requests_that_arrive_close_together()
    {
        var backend = new CpuBackend();
        await using var s = Start(backend, new SchedulerOptions { MaxBatchSize = 8, MaxQueueDelay = TimeSpan.FromMilliseconds(300) });
        var tasks = Enumerable.Range(0, 3).Select(i => s.InferAsync(Requests.Rows(i))).ToArray();
        await Task.WhenAll(tasks);
        Assert.Equal([3L], backend.RunRows);
    }

    [Fact]
    public async Task A_preferred_batch_size_dispatches_without_waiting_for_the_delay()
    {
        var backend = new CpuBackend();
        var stats = new InferenceStatistics();
        await using var s = Start(backend, new SchedulerOptions { MaxBatchSize = 8, PreferredBatchSizes = [2], MaxQueueDelay = LongestDelay }, stats);
        await Task.WhenAll(s.InferAsync(Requests.Rows(0)), s.InferAsync(Requests.Rows(1)));
        NoneWaitedForTheDelay(stats, 2);
        Assert.Equal([2L], backend.RunRows);
    }

    [Fact]
    public async Task Rows_past_the_largest_preferred_size_dispatch_without_waiting_for_the_delay()
    {
        // 3 + 2 rows never make exactly 4, but they are past it: waiting longer would only make the batch bigger.
        var backend = new CpuBackend();
        var stats = new InferenceStatistics();
        await using var s = Start(backend, new SchedulerOptions { MaxBatchSize = 16, PreferredBatchSizes = [4], MaxQueueDelay = LongestDelay }, stats);
        await Task.WhenAll(s.InferAsync(Requests.Rows(0, rows: 3)), s.InferAsync(Requests.Rows(1, rows: 2)));
        NoneWaitedForTheDelay(stats, 2);
        Assert.Equal([5L], backend.RunRows);
    }

    [Fact]
    public async Task Arrivals_during_the_delay_join_the_batch_and_a_filled_batch_goes_at_once()
    {
        // The batcher is not woken per arrival while it waits for a batch to fill; the arrival that fills the batch
        // must wake it, before the (longest) delay is due. Arrivals seen when a batch is due: The_queue_delay_gathers_...
        var backend = new CpuBackend();
        var stats = new InferenceStatistics();
        await using var s = Start(backend, new SchedulerOptions { MaxBatchSize = 4, MaxQueueDelay = LongestDelay }, stats);
        var early = Enumerable.Range(0, 2).Select(i => s.InferAsync(Requests.Rows(i))).ToArray();
        await Conditions.WaitUntilAsync(() => s.QueueLength == 2);
        var late = Enumerable.Range(2, 2).Select(i => s.InferAsync(Requests.Rows(i))).ToArray();
        await Task.WhenAll(early.Concat(late));
        Assert.Equal([4L], backend.RunRows);
        NoneWaitedForTheDelay(stats, 4);

        // Six at once fill a batch of six before the batcher has looked: it goes at once too.
        var fullBackend = new CpuBackend();
        var fullStats = new InferenceStatistics();
        await using var again = Start(fullBackend, new SchedulerOptions { MaxBatchSize = 6, MaxQueueDelay = LongestDelay }, fullStats);
        await Task.WhenAll(Enumerable.Range(0, 6).Select(i => again.InferAsync(Requests.Rows(i))));
        Assert.Equal([6L], fullBackend.RunRows);
        NoneWaitedForTheDelay(fullStats, 6);
    }

    [Fact]
    public async Task Requests_of_different_inner_shapes_are_not_stacked()
    {
        var backend = new CpuBackend(width: -1);
        await using var s = Start(backend, new SchedulerOptions { MaxBatchSize = 8 });
        backend.Close();
        var first = s.InferAsync(Requests.Rows(0, width: 2));
        await Conditions.WaitUntilAsync(() => backend.Started == 1);
        var a = s.InferAsync(Requests.Rows(1, width: 2));
        var b = s.InferAsync(Requests.Rows(2, width: 3));
        var c = s.InferAsync(Requests.Rows(3, width: 2));
        await Conditions.WaitUntilAsync(() => s.QueueLength == 3);
        backend.Open();
        await Task.WhenAll(first, a, b, c);
        Assert.Equal([1L, 2L, 1L], backend.RunRows);
        Assert.Equal(new float[] { 5, 7, 9 }, (await b).Floats("y"));
    }

    [Fact]
    public async Task A_fixed_batch_of_one_is_served_without_batching()
    {
        var backend = new CpuBackend(batchDim: 1);
        var stats = new InferenceStatistics();
        await using var s = Start(backend, new SchedulerOptions { MaxBatchSize = 8 }, stats);
        Assert.False(s.Batching);
        backend.Close();
        var tasks = Enumerable.Range(0, 4).Select(i => s.InferAsync(Requests.Rows(i))).ToArray();
        await Conditions.WaitUntilAsync(() => backend.Started == 1 && s.QueueLength == 3);
        backend.Open();
        await Task.WhenAll(tasks);
        Assert.Equal([1L, 1L, 1L, 1L], backend.RunRows);
        Assert.Equal(4, stats.Snapshot("m", "1").ExecutionCount);
    }

    [Fact]
    public async Task Strings_are_batched_and_split_back()
    {
        var backend = new CpuBackend(text: true);
        await using var s = Start(backend, new SchedulerOptions { MaxBatchSize = 8 });
        backend.Close();
        InferenceRequest Text(params string[] words) => new() { Inputs = [Tensor.FromStrings("text", [words.Length], words)] };
        var first = s.InferAsync(Text("zero"));
        await Conditions.WaitUntilAsync(() => backend.Started == 1);
        var a = s.InferAsync(Text("ab", "", "héllo"));
        var b = s.InferAsync(Text("x"));
        await Conditions.WaitUntilAsync(() => s.QueueLength == 2);
        backend.Open();
        await first;
        Assert.Equal(["AB", "", "HÉLLO"], (await a).Outputs[0].GetStrings());
        Assert.Equal(["X"], (await b).Outputs[0].GetStrings());
        Assert.Equal([1L, 4L], backend.RunRows);
    }

    [Fact]
    public async Task A_full_queue_rejects_at_once_with_the_limit_and_keeps_working()
    {
        var backend = new CpuBackend();
        var stats = new InferenceStatistics();
        await using var s = Start(backend, new SchedulerOptions { QueueLimit = 2, MaxBatchSize = 1, RetryAfter = TimeSpan.FromSeconds(2) }, stats);
        backend.Close();
        var running = s.InferAsync(Requests.Rows(0));
        await Conditions.WaitUntilAsync(() => backend.Started == 1);
        var q1 = s.InferAsync(Requests.Rows(1));
        var q2 = s.InferAsync(Requests.Rows(2));
        var ex = await Assert.ThrowsAsync<InferenceException>(() => s.InferAsync(Requests.Rows(3)));
        Assert.Equal(InferenceErrorKind.QueueFull, ex.Kind);
        Assert.Equal(2, ex.Limit);
        Assert.Equal(TimeSpan.FromSeconds(2), ex.RetryAfter);
        Assert.Contains("2 requests", ex.Message);
        backend.Open();
        await Task.WhenAll(running, q1, q2);
        using var after = await s.InferAsync(Requests.Rows(4));
        Assert.Equal(4, stats.Snapshot("m", "1").Success.Count);
    }

    [Fact]
    public async Task A_caller_that_cancels_while_queued_leaves_the_queue_and_the_batch()
    {
        var backend = new CpuBackend();
        await using var s = Start(backend, new SchedulerOptions { MaxBatchSize = 8 });
        backend.Close();
        var running = s.InferAsync(Requests.Rows(0));
        await Conditions.WaitUntilAsync(() => backend.Started == 1);
        using var cts = new CancellationTokenSource();
        var leaving = s.InferAsync(Requests.Rows(1, rows: 3), cts.Token);
        var staying = s.InferAsync(Requests.Rows(2));
        await Conditions.WaitUntilAsync(() => s.QueueLength == 2);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);
        Assert.Equal(1, s.QueueLength);
        backend.Open();
        await Task.WhenAll(running, staying);
        Assert.Equal([1L, 1L], backend.RunRows);
    }

    [Fact]
    public async Task A_caller_that_cancels_during_its_batch_is_released_and_the_batch_finishes_for_the_others()
    {
        var backend = new CpuBackend();
        await using var s = Start(backend, new SchedulerOptions { MaxBatchSize = 8, PreferredBatchSizes = [2], MaxQueueDelay = TimeSpan.FromSeconds(5) });
        backend.Close();
        using var cts = new CancellationTokenSource();
        var leaving = s.InferAsync(Requests.Rows(1), cts.Token);
        var staying = s.InferAsync(Requests.Rows(2));
        await Conditions.WaitUntilAsync(() => backend.Started == 1);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving.WaitAsync(Conditions.Ceiling));
        Assert.False(staying.IsCompleted);
        backend.Open();
        using var r = await staying;
        Assert.Equal(new float[] { 5, 7, 9, 11 }, r.Floats("y"));
        Assert.Equal([2L], backend.RunRows);
    }

    [Fact]
    public async Task A_request_that_times_out_in_the_queue_fails_with_a_timeout()
    {
        var backend = new CpuBackend();
        var stats = new InferenceStatistics();
        await using var s = Start(backend, new SchedulerOptions(), stats);
        backend.Close();
        var running = s.InferAsync(Requests.Rows(0));
        await Conditions.WaitUntilAsync(() => backend.Started == 1);
        var ex = await Assert.ThrowsAsync<InferenceException>(() => s.InferAsync(Requests.Rows(1, timeout: TimeSpan.FromMilliseconds(100))));
        Assert.Equal(InferenceErrorKind.Timeout, ex.Kind);
        Assert.Contains("still queued", ex.Message);
        Assert.Equal(0, s.QueueLength);
        backend.Open();
        await running;

        // The caller sees the timeout the moment it happens; the failure is counted just after, on the timer's thread.
        await Conditions.WaitUntilAsync(() => stats.Snapshot("m", "1").Fail.Count == 1, "the timed-out request is counted as a failure");
        Assert.Equal(1, stats.Snapshot("m", "1").Fail.Count);
    }

    [Theory]
    [InlineData("name", "unknown input 'nope'")]
    [InlineData("type", "input 'x' has datatype INT32 but model 'm' version 1 expects FP32")]
    [InlineData("rank", "input 'x' has shape [4] (rank 1) but model 'm' version 1 expects [-1,4] (rank 2)")]
    [InlineData("dim", "input 'x' has shape [1,5] but model 'm' version 1 expects [-1,4]: dimension 1 must be 4")]
    [InlineData("rows", "input 'x' has 9 rows in its batch dimension, over the max batch size of model 'm' version 1 (8)")]
    [InlineData("missing", "input 'x' is missing: model 'm' version 1 needs 'x' (FP32 [-1,4])")]
    [InlineData("twice", "input 'x' is given more than once")]
    [InlineData("output", "unknown output 'z': model 'm' version 1 produces 'y' (FP32 [-1,4]), 'sum' (FP32 [-1,1])")]
    public async Task Bad_requests_are_refused_with_a_message_naming_the_input(string problem, string message)
    {
        await using var s = Start(new CpuBackend(), new SchedulerOptions { MaxBatchSize = 8 });
        var x = () => Tensor.FromValues("x", TensorDataType.FP32, [1, 4], new float[4].AsSpan());
        var request = problem switch
        {
            "name" => new InferenceRequest { Inputs = [Tensor.FromValues("nope", TensorDataType.FP32, [1, 4], new float[4].AsSpan())] },
            "type" => new InferenceRequest { Inputs = [Tensor.FromValues("x", TensorDataType.Int32, [1, 4], new int[4].AsSpan())] },
            "rank" => new InferenceRequest { Inputs = [Tensor.FromValues("x", TensorDataType.FP32, [4], new float[4].AsSpan())] },
            "dim" => new InferenceRequest { Inputs = [Tensor.FromValues("x", TensorDataType.FP32, [1, 5], new float[5].AsSpan())] },
            "rows" => new InferenceRequest { Inputs = [Tensor.FromValues("x", TensorDataType.FP32, [9, 4], new float[36].AsSpan())] },
            "missing" => new InferenceRequest { Inputs = [] },
            "twice" => new InferenceRequest { Inputs = [x(), x()] },
            _ => new InferenceRequest { Inputs = [x()], RequestedOutputs = ["z"] },
        };
        var ex = await Assert.ThrowsAsync<InferenceException>(() => s.InferAsync(request));
        Assert.Equal(InferenceErrorKind.InvalidInput, ex.Kind);
        Assert.Contains(message, ex.Message);
        using var ok = await s.InferAsync(Requests.Rows(1)); // the queue keeps working
    }

    [Fact]
    public async Task The_budget_of_a_request_admitted_before_its_body_was_read_counts_the_read()
    {
        // The batch waits 0.9 s to fill; after a body read of 0.3 s (of which a fifth of the budget, 0.2 s, counts) the
        // request has used 1.1 s of its 1 s budget by then, so it is dropped instead of run late.
        var budget = TimeSpan.FromSeconds(1);
        await using var s = Start(new CpuBackend(), new SchedulerOptions { MaxBatchSize = 8, MaxQueueDelay = TimeSpan.FromSeconds(0.9), QueueTimeBudget = budget });
        var ticket = s.Admit(AdmittedAgo(TimeSpan.FromSeconds(0.3))); // the body "arrived" slowly
        var ex = await Assert.ThrowsAsync<InferenceException>(() => s.InferAsync(Requests.Rows(1), ticket));
        Assert.Equal(InferenceErrorKind.QueueFull, ex.Kind);
        Assert.Equal("queue_time_budget_ms", ex.LimitName);
        Assert.Contains("(its body read and its queue)", ex.Message);
    }

    [Fact]
    public async Task A_slow_upload_counts_for_at_most_a_fifth_of_the_budget()
    {
        // A body that took longer than the whole budget to arrive is still run when the model is idle: the client's own
        // pace is not the model's overload.
        // (A budget of 2 s of which the read takes 0.4 s leaves 1.6 s for the idle model: room for a busy machine.)
        await using var s = Start(new CpuBackend(), new SchedulerOptions { QueueTimeBudget = TimeSpan.FromSeconds(2) });
        var ticket = s.Admit(AdmittedAgo(TimeSpan.FromSeconds(2.5)));
        using var r = await s.InferAsync(Requests.Rows(1), ticket);
        Assert.Equal(new float[] { 3, 5, 7, 9 }, r.Floats("y"));
    }

    [Fact]
    public async Task An_engine_failure_fails_that_batch_only()
    {
        var backend = new CpuBackend();
        var stats = new InferenceStatistics();
        await using var s = Start(backend, new SchedulerOptions(), stats);
        backend.FailWith = "engine says no";
        var ex = await Assert.ThrowsAsync<InferenceException>(() => s.InferAsync(Requests.Rows(1)));
        Assert.Equal(InferenceErrorKind.Internal, ex.Kind);
        Assert.Contains("engine says no", ex.Message);
        backend.FailWith = null;
        using var ok = await s.InferAsync(Requests.Rows(1));
        var snap = stats.Snapshot("m", "1");
        Assert.Equal((1L, 1L), (snap.Fail.Count, snap.Success.Count));
    }

    [Fact]
    public async Task Several_instances_run_batches_in_parallel()
    {
        var backend = new CpuBackend(instances: 2);
        await using var s = Start(backend, new SchedulerOptions { MaxBatchSize = 1 });
        backend.Close();
        var a = s.InferAsync(Requests.Rows(0));
        var b = s.InferAsync(Requests.Rows(1));
        await Conditions.WaitUntilAsync(() => backend.Started == 2);
        backend.Open();
        await Task.WhenAll(a, b);
    }

    [Fact]
    public async Task Unloading_lets_queued_requests_finish_then_refuses_new_ones_and_disposes_the_backend()
    {
        var backend = new CpuBackend();
        var s = Start(backend, new SchedulerOptions { MaxBatchSize = 1 });
        backend.Close();
        var running = s.InferAsync(Requests.Rows(0));
        await Conditions.WaitUntilAsync(() => backend.Started == 1);
        var queued = s.InferAsync(Requests.Rows(1));
        var disposing = s.DisposeAsync().AsTask();
        var refused = await Assert.ThrowsAsync<InferenceException>(() => s.InferAsync(Requests.Rows(2)));
        Assert.Equal(InferenceErrorKind.Unavailable, refused.Kind);
        Assert.False(disposing.IsCompleted);
        backend.Open();
        await disposing;
        Assert.True(backend.Disposed);
        Assert.True(running.IsCompletedSuccessfully);
        Assert.True(queued.IsCompletedSuccessfully);
    }
}
