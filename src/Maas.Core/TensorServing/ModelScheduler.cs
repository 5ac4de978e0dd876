using System.Buffers;
using System.Diagnostics;
using Maas.Core.Observability;

namespace Maas.Core.TensorServing;

/// <summary>
/// Serves one loaded model version: a bounded FIFO queue, a dynamic batcher and one worker thread per backend
/// instance. Requests that arrive while the instances are busy are stacked along the batch dimension.
/// </summary>
public sealed class ModelScheduler : IAsyncDisposable
{
    private readonly IModelBackend _backend;
    private readonly SchedulerOptions _options;
    private readonly InferenceStatistics _statistics;
    private readonly ModelTelemetry _telemetry;
    private readonly object _lock = new();
    private readonly LinkedList<PendingRequest> _queue = new();
    private readonly LinkedList<QueueTicket> _reservations = new(); // admitted requests whose bodies are being read
    private readonly Thread[] _workers;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HashSet<int> _preferred;
    private readonly int _largestPreferred;
    private readonly long _delayTicks;
    private readonly long _budgetTicks;

    // New requests are admitted while their expected wait is under this share of the queue time budget: the estimate
    // is a mean that leaves out the body still to be read and the spread of run times, and a request admitted on an
    // estimate that proves short is dropped at the budget after its body was read, a wasted read under overload.
    internal const double AdmittedShareOfBudget = 0.8;
    private readonly string _label;
    private readonly bool _batchDimension;
    private bool _forming;
    private bool _delayWaiting; // the forming worker waits for its batch to fill (only then can an arrival complete it)
    private int _idleWorkers;
    private long _queuedRows;
    private bool _draining;
    private bool _stopped;
    private int _running;
    private int _runningBatches;
    private double _batchTicks; // how long a batch runs (moving average, Stopwatch ticks); 0 until a batch has run
    private double _requestsPerBatch = 1; // moving average
    private double _servedTicks; // time between completions per request while work was waiting (moving average, ticks)
    private long _lastCompletion;
    private bool _busy; // work was waiting when the last batch completed
    private readonly RetryAfterHint _retryAfter;
    private Task? _disposeTask;

    /// <summary>Starts the workers for a loaded backend; the scheduler owns and finally disposes the backend.</summary>
    public ModelScheduler(string modelName, string version, IModelBackend backend, SchedulerOptions options, InferenceStatistics statistics, ServingTelemetry? telemetry = null)
    {
        options.Validate();
        ModelName = modelName;
        Version = version;
        _backend = backend;
        _options = options;
        _statistics = statistics;
        _telemetry = (telemetry ?? ServingTelemetry.Off).For(modelName, version);
        _label = $"model '{modelName}' version {version}";
        _batchDimension = backend.Inputs.Count > 0
            && backend.Inputs.All(i => i.HasDynamicBatchDimension)
            && backend.Outputs.All(o => o.HasDynamicBatchDimension);
        Batching = _batchDimension && options.MaxBatchSize > 1;
        _preferred = [.. options.PreferredBatchSizes];
        _largestPreferred = _preferred.Count == 0 ? int.MaxValue : _preferred.Max();
        _delayTicks = (long)(options.MaxQueueDelay.TotalSeconds * Stopwatch.Frequency);
        _budgetTicks = (long)(options.QueueTimeBudget.TotalSeconds * Stopwatch.Frequency);
        _retryAfter = new RetryAfterHint(options.RetryAfter, options.MaxRetryAfter, Stopwatch.GetTimestamp());
        _workers = new Thread[backend.InstanceCount];
        for (var i = 0; i < _workers.Length; i++)
        {
            var instance = i;
            _workers[i] = new Thread(() => WorkerLoop(instance))
            {
                IsBackground = true,
                Name = $"maas-{modelName}-{version}-{i}",
            };
            _workers[i].Start();
        }
    }

    /// <summary>The model's name.</summary>
    public string ModelName { get; }

    /// <summary>The version this scheduler serves.</summary>
    public string Version { get; }

    /// <summary>The loaded backend (for its signature).</summary>
    public IModelBackend Backend => _backend;

    /// <summary>The options in effect.</summary>
    public SchedulerOptions Options => _options;

    /// <summary>True when requests are stacked into batches (dynamic first dimension and max batch size above 1).</summary>
    public bool Batching { get; }

    /// <summary>Engine instances serving this version (each runs one batch at a time).</summary>
    public int InstanceCount => _workers.Length;

    /// <summary>Requests waiting in the queue now.</summary>
    public int QueueLength
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Requests in batches that are running now.</summary>
    public int Executing
    {
        get
        {
            lock (_lock)
            {
                return _running;
            }
        }
    }

    /// <summary>
    /// How long a request arriving now would wait in the queue, estimated from the requests ahead of it and the observed
    /// batch run time and size (zero while an instance is idle, or before any batch has run).
    /// </summary>
    public TimeSpan ExpectedQueueWait
    {
        get
        {
            lock (_lock)
            {
                PruneReservations();
                return TimeSpan.FromSeconds(ExpectedWaitTicks() / Stopwatch.Frequency);
            }
        }
    }

    /// <summary>
    /// Admits a request before its body is read: throws <see cref="InferenceException"/> (queue full, or the expected
    /// wait over the queue time budget) at once, else holds a place in the queue until the request is handed to
    /// <see cref="InferAsync(InferenceRequest, QueueTicket?, CancellationToken)"/> or the ticket is disposed.
    /// A place is held for at most <see cref="ReservationHold"/>, so slow uploads cannot hold the queue.
    /// </summary>
    public QueueTicket Admit() => Admit(Stopwatch.GetTimestamp());

    // Tests admit "earlier" (a Stopwatch timestamp in the past) instead of waiting for a slow body in real time.
    internal QueueTicket Admit(long admittedTimestamp)
    {
        lock (_lock)
        {
            if (Refusal() is { } refusal)
            {
                throw refusal;
            }

            _retryAfter.Admitted(Stopwatch.GetTimestamp());
            var ticket = new QueueTicket(this, admittedTimestamp);
            ticket.Node = _reservations.AddLast(ticket);
            return ticket;
        }
    }

    /// <summary>How long an admitted request's place is held while its body is read.</summary>
    public static readonly TimeSpan ReservationHold = TimeSpan.FromSeconds(5);

    /// <summary>Queues a request; see <see cref="InferAsync(InferenceRequest, QueueTicket?, CancellationToken)"/>.</summary>
    public Task<InferenceResponse> InferAsync(InferenceRequest request, CancellationToken cancellationToken = default) =>
        InferAsync(request, null, cancellationToken);

    /// <summary>
    /// Queues a request and completes when its batch has run. Takes ownership of <paramref name="request"/>.
    /// Throws at once when the request does not fit the model or the queue is full; a cancelled caller is
    /// removed from the queue, or, when its batch is already running, simply stops waiting for it.
    /// </summary>
    /// A request admitted earlier with <paramref name="ticket"/> takes the place the ticket holds.
    public Task<InferenceResponse> InferAsync(InferenceRequest request, QueueTicket? ticket, CancellationToken cancellationToken = default)
    {
        if (ticket is not null && ticket.Scheduler != this)
        {
            ticket.Dispose(); // admitted by a version since swapped out: admitted here afresh
            ticket = null;
        }

        PendingRequest pending;
        try
        {
            var rows = RequestValidator.Validate(request, _label, _backend.Inputs, _backend.Outputs, _batchDimension, Batching ? _options.MaxBatchSize : 0);
            pending = new PendingRequest(this, request, rows, Batching ? BatchKey(request) : null);
        }
        catch
        {
            request.Dispose();
            throw;
        }

        // Watch the timeout and the caller before queueing, so no completion can slip past the registrations.
        pending.TraceParent = _telemetry.CaptureParent();
        pending.TimeoutSource = new CancellationTokenSource(request.Timeout ?? _options.Timeout);
        pending.TimeoutRegistration = pending.TimeoutSource.Token.UnsafeRegister(static (state, _) => Abandon((PendingRequest)state!, timedOut: true), pending);
        if (cancellationToken.CanBeCanceled)
        {
            pending.CallerRegistration = cancellationToken.UnsafeRegister(static (state, _) => Abandon((PendingRequest)state!, timedOut: false), pending);
        }

        lock (_lock)
        {
            // A ticket still holding its place skips the checks it passed on admission.
            var admitted = ticket?.Node is not null;
            if (admitted)
            {
                _reservations.Remove(ticket!.Node!);
                ticket.Node = null;
            }

            if (pending.Abandoned)
            {
                request.Dispose();
                return pending.Completion.Task;
            }

            var refusal = _draining
                ? new InferenceException(InferenceErrorKind.Unavailable, $"{_label} is unloading")
                : admitted ? null : Refusal();

            if (refusal is not null)
            {
                // Refused before it was queued: the caller gets the exception, nobody waits on the task.
                pending.Abandoned = true;
                pending.TimeoutRegistration.Unregister();
                pending.CallerRegistration.Unregister();
                pending.TimeoutSource.Dispose();
                request.Dispose();
                throw refusal;
            }

            pending.EnqueuedTicks = Stopwatch.GetTimestamp();
            pending.BudgetStartTicks = BudgetStart(ticket, pending.EnqueuedTicks);
            if (!admitted)
            {
                _retryAfter.Admitted(pending.EnqueuedTicks);
            }

            pending.Node = _queue.AddLast(pending);
            _queuedRows += pending.Rows;

            // Wake a worker only when there is something for it to do: an idle one, or the one waiting for its batch
            // to fill once the queue may now fill it (it recounts). Waking it on every arrival costs a context switch each.
            if (_idleWorkers > 0 || (_delayWaiting && WorthDispatching(_queuedRows)))
            {
                Monitor.PulseAll(_lock);
            }
        }

        return pending.Completion.Task;
    }

    /// <summary>Refuses new requests, lets queued and running ones finish, then stops the workers and unloads the backend.</summary>
    public ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            _disposeTask ??= DrainAndStopAsync();
            return new ValueTask(_disposeTask);
        }
    }

    private async Task DrainAndStopAsync()
    {
        lock (_lock)
        {
            _draining = true;
            CheckDrained();
            Monitor.PulseAll(_lock);
        }

        await _drained.Task.ConfigureAwait(false);
        lock (_lock)
        {
            _stopped = true;
            Monitor.PulseAll(_lock);
        }

        await Task.Run(() =>
        {
            foreach (var w in _workers)
            {
                w.Join();
            }

            _backend.Dispose();
        }).ConfigureAwait(false);
    }

    // Called with _lock held.
    // Called with _lock held: why a request arriving now is refused, or null.
    private InferenceException? Refusal()
    {
        if (_draining)
        {
            return new InferenceException(InferenceErrorKind.Unavailable, $"{_label} is unloading");
        }

        PruneReservations();
        if (_queue.Count + _reservations.Count >= _options.QueueLimit)
        {
            return new InferenceException(InferenceErrorKind.QueueFull,
                $"the queue of {_label} is full ({_options.QueueLimit} requests waiting, the configured limit); retry later")
            {
                Limit = _options.QueueLimit,
                LimitName = "queue_limit",
                RetryAfter = _retryAfter.Refused(Stopwatch.GetTimestamp()),
            };
        }

        // The budget bounds an admitted request's queue time and its own run together, so the run is counted here; a
        // request that would start at once is always admitted.
        if (_budgetTicks > 0 && ExpectedWaitTicks() is var wait && wait > 0 && wait + RunTicksInBudget() > _budgetTicks * AdmittedShareOfBudget)
        {
            return new InferenceException(InferenceErrorKind.QueueFull,
                $"{_label} is too busy: a new request would wait about {TicksToMs(wait):0} ms in its queue and run about {TicksToMs(RunTicksInBudget()):0} ms, over " +
                $"{AdmittedShareOfBudget * 100:0}% of its queue time budget of {_options.QueueTimeBudget.TotalMilliseconds:0} ms (queue_time_budget_ms); retry later")
            {
                Limit = (int)Math.Min(int.MaxValue, _options.QueueTimeBudget.TotalMilliseconds),
                LimitName = "queue_time_budget_ms",
                RetryAfter = _retryAfter.Refused(Stopwatch.GetTimestamp()),
            };
        }

        return null;
    }

    // Called with _lock held. The batches the requests ahead of a new one make, spread over the instances, at the
    // observed time per batch (running batches count as half done when every instance is busy); or, when larger,
    // the requests ahead at the rate requests were actually served while work waited (which also counts the time
    // the engine lost to other work on the machine between its runs).
    private double ExpectedWaitTicks()
    {
        var ahead = _queue.Count + _reservations.Count;
        if (ahead < _workers.Length - _runningBatches)
        {
            return 0;
        }

        var batchesAhead = ahead / Math.Max(1, _requestsPerBatch);
        var running = _runningBatches >= _workers.Length ? 0.5 : 0;
        var byRunTime = ((batchesAhead / _workers.Length) + running) * _batchTicks;
        return Math.Max(byRunTime, ahead * _servedTicks);
    }

    // Called with _lock held. Tickets are appended in time order, so the expired ones are at the front.
    private void PruneReservations()
    {
        var expired = Stopwatch.GetTimestamp() - (long)(ReservationHold.TotalSeconds * Stopwatch.Frequency);
        while (_reservations.First is { } first && first.Value.At < expired)
        {
            _reservations.RemoveFirst();
            first.Value.Node = null;
        }
    }

    /// <summary>Gives back the place a ticket holds (when its request never reached the queue).</summary>
    internal void Release(QueueTicket ticket)
    {
        lock (_lock)
        {
            if (ticket.Node is { } node)
            {
                _reservations.Remove(node);
                ticket.Node = null;
            }
        }
    }

    // Called with _lock held, on the queue's head as it is about to run: a request that would finish past the budget
    // (its wait so far plus the recent run time) is dropped rather than answered late.
    private bool DropIfOverBudget(PendingRequest head)
    {
        if (_budgetTicks <= 0)
        {
            return false;
        }

        var now = Stopwatch.GetTimestamp();
        var waited = now - head.BudgetStartTicks;
        if (waited + RunTicksInBudget() <= _budgetTicks)
        {
            return false;
        }

        head.Abandoned = true;
        _queue.Remove(head.Node!);
        _queuedRows -= head.Rows;
        head.Node = null;
        var error = new InferenceException(InferenceErrorKind.QueueFull,
            $"the request waited {TicksToMs(waited):0} ms for {_label} (its body read and its queue) and would run about {TicksToMs(RunTicksInBudget()):0} ms more, over its " +
            $"queue time budget of {_options.QueueTimeBudget.TotalMilliseconds:0} ms (queue_time_budget_ms), and was dropped rather than run late; retry later")
        {
            Limit = (int)Math.Min(int.MaxValue, _options.QueueTimeBudget.TotalMilliseconds),
            LimitName = "queue_time_budget_ms",
            RetryAfter = _retryAfter.Refused(Stopwatch.GetTimestamp()),
        };
        if (Complete(head, null, error))
        {
            // Statistics count from the queue, as for every other request.
            var ns = ComputeTimings.ToNanoseconds(now - head.EnqueuedTicks);
            _statistics.RecordFailure(ns);
            _telemetry.RequestCompleted(false, ns, ns);
        }

        head.Request.Dispose();
        CheckDrained();
        return true;
    }

    // Where a request's budget starts. A caller's wait starts when its headers arrive, so for a request admitted before
    // its body was read (a ticket), the budget covers the body's read too; but the read counts for at most the share of
    // the budget admission leaves for it, so a slow uploader is not dropped for its own pace.
    private long BudgetStart(QueueTicket? ticket, long enqueued) =>
        ticket is null ? enqueued : Math.Max(ticket.At, enqueued - (long)(_budgetTicks * (1 - AdmittedShareOfBudget)));

    // Called with _lock held. The share of the budget kept for a request's own run: the recent batch run time, but at most
    // half the budget, so that a model whose runs take longer than its budget still serves requests that waited little.
    private double RunTicksInBudget() => Math.Min(_batchTicks, _budgetTicks / 2.0);

    private static double TicksToMs(double ticks) => ticks * 1000 / Stopwatch.Frequency;

    private void CheckDrained()
    {
        if (_draining && _queue.Count == 0 && _running == 0)
        {
            _drained.TrySetResult();
        }
    }

    private static void Abandon(PendingRequest pending, bool timedOut) => pending.Scheduler.OnAbandoned(pending, timedOut);

    private void OnAbandoned(PendingRequest pending, bool timedOut)
    {
        var wasQueued = false;
        lock (_lock)
        {
            if (pending.Abandoned)
            {
                return;
            }

            pending.Abandoned = true;
            if (pending.Node is { } node)
            {
                _queue.Remove(node);
                _queuedRows -= pending.Rows;
                pending.Node = null;
                wasQueued = true;
                CheckDrained();
                Monitor.PulseAll(_lock);
            }
        }

        Exception error = timedOut
            ? new InferenceException(InferenceErrorKind.Timeout,
                $"the request to {_label} did not complete within its timeout of {(pending.Request.Timeout ?? _options.Timeout).TotalMilliseconds:0} ms"
                + (wasQueued ? " (it was still queued)" : " (its batch was still running)"))
            : new OperationCanceledException("the caller cancelled the request");
        if (Complete(pending, null, error) && timedOut && pending.EnqueuedTicks != 0)
        {
            var ns = ElapsedNs(pending.EnqueuedTicks);
            _statistics.RecordFailure(ns);
            _telemetry.RequestCompleted(false, ns, 0);
        }

        if (wasQueued)
        {
            // Nobody else will touch a request that left the queue this way; a running one is cleaned up by its worker.
            pending.Request.Dispose();
        }
    }

    private static bool Complete(PendingRequest pending, InferenceResponse? response, Exception? error)
    {
        var done = response is not null ? pending.Completion.TrySetResult(response) : pending.Completion.TrySetException(error!);
        if (done)
        {
            pending.TimeoutRegistration.Unregister();
            pending.CallerRegistration.Unregister();
            pending.TimeoutSource?.Dispose();
        }

        return done;
    }

    private void WorkerLoop(int instance)
    {
        var batch = new List<PendingRequest>();
        while (TakeBatch(batch))
        {
            Execute(instance, batch);
            batch.Clear();
        }
    }

    private bool TakeBatch(List<PendingRequest> batch)
    {
        lock (_lock)
        {
            while (true)
            {
                while (_forming || _queue.Count == 0)
                {
                    if (_stopped && _queue.Count == 0)
                    {
                        return false;
                    }

                    _idleWorkers++;
                    try
                    {
                        Monitor.Wait(_lock);
                    }
                    finally
                    {
                        _idleWorkers--;
                    }
                }

                _forming = true;
                try
                {
                    if (Gather(batch))
                    {
                        _runningBatches++;
                        return true;
                    }
                }
                finally
                {
                    _forming = false;
                    Monitor.PulseAll(_lock);
                }
            }
        }
    }

    // Called with _lock held and _forming set. Waits (releasing the lock) until the batch is worth running.
    private bool Gather(List<PendingRequest> batch)
    {
        while (_queue.First is { } first)
        {
            var head = first.Value;
            if (DropIfOverBudget(head))
            {
                continue;
            }

            if (!Batching)
            {
                Take(head, batch);
                return true;
            }

            // Scan for requests that stack with the head: same datatypes and the same shape past the batch dimension.
            long rows = 0;
            var full = false;
            for (var node = first; node is not null; node = node.Next)
            {
                var p = node.Value;
                if (p.Key != head.Key)
                {
                    continue;
                }

                if (rows + p.Rows > _options.MaxBatchSize)
                {
                    full = true;
                    break;
                }

                rows += p.Rows;
            }

            var remaining = head.EnqueuedTicks + _delayTicks - Stopwatch.GetTimestamp();
            if (full || WorthDispatching(rows) || remaining <= 0 || _draining || _stopped)
            {
                rows = 0;
                for (var node = first; node is not null;)
                {
                    var next = node.Next;
                    var p = node.Value;
                    if (p.Key == head.Key)
                    {
                        if (rows + p.Rows > _options.MaxBatchSize && rows > 0)
                        {
                            break;
                        }

                        rows += p.Rows;
                        Take(p, batch);
                    }

                    node = next;
                }

                return true;
            }

            _delayWaiting = true;
            try
            {
                Monitor.Wait(_lock, TimeSpan.FromSeconds((double)remaining / Stopwatch.Frequency) + TimeSpan.FromTicks(1));
            }
            finally
            {
                _delayWaiting = false;
            }
        }

        return false;
    }

    // A batch of this many rows goes at once: full, a preferred size, or past the largest preferred size.
    private bool WorthDispatching(long rows) =>
        rows >= _options.MaxBatchSize || rows >= _largestPreferred || (rows <= int.MaxValue && _preferred.Contains((int)rows));

    private void Take(PendingRequest p, List<PendingRequest> batch)
    {
        _queuedRows -= p.Rows;
        _queue.Remove(p.Node!);
        p.Node = null;
        _running++;
        batch.Add(p);
    }

    private void Execute(int instance, List<PendingRequest> batch)
    {
        var start = Stopwatch.GetTimestamp();
        var ran = false; // the batch ran, so its time counts towards the expected waits
        var timings = new ComputeTimings();
        var assembled = new List<Tensor>();
        IReadOnlyList<Tensor>? outputs = null;
        try
        {
            var inputs = Inputs(batch, assembled);
            var runStart = Stopwatch.GetTimestamp();
            timings.InputTicks += runStart - start;
            var outputNames = OutputNames(batch);
            outputs = _backend.Run(instance, inputs, outputNames, timings);
            if (outputs.Count != outputNames.Count)
            {
                throw new InferenceException(InferenceErrorKind.Internal, $"{_label} returned {outputs.Count} outputs for {outputNames.Count} requested");
            }

            var splitStart = Stopwatch.GetTimestamp();
            var perRequest = Split(batch, ref outputs);
            timings.OutputTicks += Stopwatch.GetTimestamp() - splitStart;
            long totalRows = 0;
            foreach (var p in batch)
            {
                totalRows += p.Rows;
            }

            _statistics.RecordExecution(
                _batchDimension ? totalRows : 1,
                batch.Count,
                ComputeTimings.ToNanoseconds(timings.InputTicks),
                ComputeTimings.ToNanoseconds(timings.InferTicks),
                ComputeTimings.ToNanoseconds(timings.OutputTicks));
            _telemetry.Executed(_batchDimension ? totalRows : 1, ComputeTimings.ToNanoseconds(timings.InferTicks));
            ran = true;
            Respond(batch, perRequest, outputNames, start, timings.InputTicks + timings.InferTicks + timings.OutputTicks, totalRows);

            // After the callers are released: the spans are built from timestamps taken above, so they lose nothing,
            // and building them no longer delays the responses.
            Trace(batch, instance, start, runStart, splitStart, _batchDimension ? totalRows : 1);
        }
        catch (Exception ex)
        {
            Fail(batch, ex as InferenceException ?? new InferenceException(InferenceErrorKind.Internal, $"{_label} failed to run: {ex.Message}", ex));
        }
        finally
        {
            if (outputs is not null)
            {
                foreach (var t in outputs)
                {
                    t.Dispose();
                }
            }

            foreach (var t in assembled)
            {
                t.Dispose();
            }

            foreach (var p in batch)
            {
                p.Request.Dispose();
            }

            Finished(batch, start, ran);
        }
    }

    // One request's inputs as they are; several requests' inputs stacked row-wise (into tensors the caller disposes).
    private IReadOnlyList<Tensor> Inputs(List<PendingRequest> batch, List<Tensor> assembled)
    {
        if (batch.Count == 1)
        {
            return batch[0].Request.Inputs;
        }

        foreach (var meta in _backend.Inputs)
        {
            var parts = new Tensor[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                parts[i] = batch[i].Input(meta.Name);
            }

            assembled.Add(BatchAssembler.Concatenate(meta.Name, parts));
        }

        return assembled;
    }

    // Each request's rows of the outputs: one request takes the outputs themselves (and they are no longer the
    // batch's to dispose), several get views split off by their row counts.
    private static Tensor[][] Split(List<PendingRequest> batch, ref IReadOnlyList<Tensor>? outputs)
    {
        var perRequest = new Tensor[batch.Count][];
        if (batch.Count == 1)
        {
            perRequest[0] = [.. outputs!];
            outputs = null; // handed over as they are
            return perRequest;
        }

        var rows = batch.Select(p => p.Rows).ToArray();
        var split = outputs!.Select(o => BatchAssembler.Split(o, rows)).ToArray();
        for (var i = 0; i < batch.Count; i++)
        {
            perRequest[i] = split.Select(s => s[i]).ToArray();
        }

        return perRequest;
    }

    // Answers every request of a batch that ran, counting each before its caller is released.
    private void Respond(List<PendingRequest> batch, Tensor[][] perRequest, List<string> outputNames, long start, long computeTicks, long totalRows)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            var p = batch[i];
            var response = new InferenceResponse
            {
                ModelName = ModelName,
                ModelVersion = Version,
                Id = p.Request.Id,
                Outputs = Select(perRequest[i], outputNames, p.Request.RequestedOutputs),
                BatchItems = _batchDimension ? p.Rows : 1,
                ComputeTime = ComputeShare(computeTicks, _batchDimension ? p.Rows : 1, _batchDimension ? totalRows : batch.Count),
            };
            // Counted before the caller is released, so statistics and metrics read right after a response include it.
            if (!p.Completion.Task.IsCompleted)
            {
                var totalNs = ElapsedNs(p.EnqueuedTicks);
                var queueNs = ComputeTimings.ToNanoseconds(start - p.EnqueuedTicks);
                _statistics.RecordSuccess(p.Rows, totalNs, queueNs);
                _telemetry.RequestCompleted(true, totalNs, queueNs);
            }

            if (!Complete(p, response, null))
            {
                response.Dispose(); // the caller gave up while the batch ran
            }
        }
    }

    private void Fail(List<PendingRequest> batch, InferenceException error)
    {
        foreach (var p in batch)
        {
            if (!p.Completion.Task.IsCompleted)
            {
                var ns = ElapsedNs(p.EnqueuedTicks);
                _statistics.RecordFailure(ns);
                _telemetry.RequestCompleted(false, ns, 0);
            }

            Complete(p, null, error);
        }
    }

    // The batch's slots are free again; a batch that ran updates the timings admission and dispatch plan by.
    private void Finished(List<PendingRequest> batch, long start, bool ran)
    {
        lock (_lock)
        {
            _running -= batch.Count;
            _runningBatches--;
            if (ran)
            {
                // Moving averages over the last few batches: quick to follow a change of load, steady enough to plan by.
                var now = Stopwatch.GetTimestamp();
                var ticks = (double)(now - start);
                _batchTicks = _batchTicks == 0 ? ticks : (_batchTicks * 0.8) + (ticks * 0.2);
                _requestsPerBatch = (_requestsPerBatch * 0.8) + (batch.Count * 0.2);
                if (_busy)
                {
                    var served = (double)(now - _lastCompletion) / batch.Count;
                    _servedTicks = _servedTicks == 0 ? served : (_servedTicks * 0.8) + (served * 0.2);
                }

                _lastCompletion = now;
                _busy = _queue.Count > 0 || _running > 0;
            }

            CheckDrained();
        }
    }

    private List<string> OutputNames(List<PendingRequest> batch)
    {
        var names = new List<string>(_backend.Outputs.Count);
        foreach (var meta in _backend.Outputs)
        {
            foreach (var p in batch)
            {
                if (p.Request.RequestedOutputs is not { } requested || requested.Contains(meta.Name))
                {
                    names.Add(meta.Name);
                    break;
                }
            }
        }

        return names;
    }

    // Picks the request's outputs (in the order it asked for them) and disposes the rest.
    private static Tensor[] Select(Tensor[] all, List<string> names, IReadOnlyList<string>? requested)
    {
        if (requested is null && all.Length == names.Count)
        {
            return all;
        }

        var wanted = requested ?? names;
        var result = new Tensor[wanted.Count];
        for (var i = 0; i < wanted.Count; i++)
        {
            result[i] = all[names.IndexOf(wanted[i])];
        }

        foreach (var t in all)
        {
            if (Array.IndexOf(result, t) < 0)
            {
                t.Dispose();
            }
        }

        return result;
    }

    private static string BatchKey(InferenceRequest request)
    {
        var inputs = request.Inputs.OrderBy(t => t.Name, StringComparer.Ordinal);
        return string.Join(';', inputs.Select(t => $"{t.Name}:{(int)t.DataType}:{string.Join(',', t.Shape.Skip(1))}"));
    }

    // A batch's compute is billed to its requests by the rows each put in.
    private static TimeSpan ComputeShare(long ticks, long rows, long totalRows) =>
        TimeSpan.FromSeconds((double)ticks / Stopwatch.Frequency * rows / Math.Max(1, totalRows));

    // Spans exist only for requests whose caller was traced when they arrived (ModelTelemetry.CaptureParent).
    private void Trace(List<PendingRequest> batch, int instance, long start, long runStart, long runEnd, long rows)
    {
        var traced = false;
        foreach (var p in batch)
        {
            traced |= p.TraceParent != default;
        }

        if (!traced)
        {
            return;
        }

        var parents = ArrayPool<ActivityContext>.Shared.Rent(batch.Count);
        Span<long> enqueued = batch.Count <= 256 ? stackalloc long[batch.Count] : new long[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            parents[i] = batch[i].TraceParent;
            enqueued[i] = batch[i].EnqueuedTicks;
        }

        try
        {
            _telemetry.TraceExecution(parents.AsSpan(0, batch.Count), enqueued, start, runStart, runEnd, rows, instance);
        }
        finally
        {
            ArrayPool<ActivityContext>.Shared.Return(parents, clearArray: true);
        }
    }

    private static long ElapsedNs(long since) => ComputeTimings.ToNanoseconds(Stopwatch.GetTimestamp() - since);

    private sealed class PendingRequest(ModelScheduler scheduler, InferenceRequest request, long rows, string? key)
    {
        public ModelScheduler Scheduler { get; } = scheduler;

        // Set under the scheduler's lock when the caller cancels or times out.
        public bool Abandoned { get; set; }

        public InferenceRequest Request { get; } = request;

        public long Rows { get; } = rows;

        public string? Key { get; } = key;

        public TaskCompletionSource<InferenceResponse> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long EnqueuedTicks { get; set; }

        // When its queue time budget started (see BudgetStart).
        public long BudgetStartTicks { get; set; }

        // The caller's span when tracing is on and listened to, else default.
        public ActivityContext TraceParent { get; set; }

        public LinkedListNode<PendingRequest>? Node { get; set; }

        public CancellationTokenSource? TimeoutSource { get; set; }

        public CancellationTokenRegistration TimeoutRegistration { get; set; }

        public CancellationTokenRegistration CallerRegistration { get; set; }

        public Tensor Input(string name)
        {
            foreach (var t in Request.Inputs)
            {
                if (t.Name == name)
                {
                    return t;
                }
            }

            throw new InvalidOperationException($"validated request lacks input '{name}'");
        }
    }
}
