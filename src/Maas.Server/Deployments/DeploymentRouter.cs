using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Maas.Core.Deployments;
using Maas.Core.Registry;
using Maas.Server.Auth;

namespace Maas.Server.Deployments;

/// <summary>
/// Picks the version of a call that names a model without a version: by the model's deployment split (weighted
/// random, or sticky by a header value or the API key), from an in-memory copy of every deployment that is
/// refreshed when this server changes one and when the database's change counter moves.
/// </summary>
public sealed class DeploymentRouter(IDeploymentStore store, DeploymentMetrics metrics, ILogger<DeploymentRouter> logger)
{
    /// <summary>The header every inference answer carries with the version that produced it.</summary>
    public const string VersionHeader = "X-Maas-Model-Version";

    private readonly SemaphoreSlim _refresh = new(1, 1);
    private volatile IReadOnlyDictionary<string, Deployment> _byModel = new Dictionary<string, Deployment>(StringComparer.Ordinal);
    private static readonly object FailedKey = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Model, int Version), InFlight> _inFlight = new();
    private long _seen = -1;

    /// <summary>The metrics every route records into.</summary>
    public DeploymentMetrics Metrics => metrics;

    /// <summary>Every deployment as this server last read them, by model key.</summary>
    public IReadOnlyDictionary<string, Deployment> Current => _byModel;

    /// <summary>Raised after the copy changed (old, new), for the hot swap's unloads and the metrics' cleanup.</summary>
    public event Action<IReadOnlyDictionary<string, Deployment>, IReadOnlyDictionary<string, Deployment>>? Changed;

    /// <summary>
    /// Picks the version for a call naming <paramref name="model"/> (a model key, as the auth gate rewrote it) without a
    /// version or alias; null when the model has no deployment. The call counts in flight for the version (see
    /// <see cref="WaitForRoutedCallsAsync"/>) and its answer's status and latency are recorded, both until the response
    /// completes. With <paramref name="recordOnCompletion"/> false the call is one message of a stream (messages routed
    /// one after another, each after the previous one's answer): nothing is recorded, and the stream counts in flight
    /// for the version its latest routed message went to, until its next message is routed or the stream ends.
    /// </summary>
    public DeploymentRoute? Route(HttpContext context, string model, bool recordOnCompletion = true)
    {
        while (true)
        {
            var snapshot = _byModel;
            if (Find(snapshot, model) is not { } deployment)
            {
                if (!recordOnCompletion)
                {
                    StreamHold.Release(context); // the stream's messages no longer go to a routed version
                }

                return null;
            }

            var route = new DeploymentRoute(deployment, Pick(deployment, context));

            // Counted before the copy is read again: a change either sees this call in flight (and its unload
            // waits for it) or is seen here (and the call picks again from the new split).
            var counter = _inFlight.GetOrAdd((deployment.Model, route.Version), _ => new InFlight());
            counter.Enter();
            if (!ReferenceEquals(_byModel, snapshot))
            {
                counter.Exit();
                continue;
            }

            SetVersionHeader(context, route.VersionText);
            if (!recordOnCompletion)
            {
                StreamHold.Move(context, counter);
                return route;
            }

            var started = Stopwatch.GetTimestamp();
            context.Response.OnCompleted(() =>
            {
                counter.Exit();
                metrics.RecordRequest(deployment.Model, deployment.StepStartedAt, route.Version, Stopwatch.GetElapsedTime(started).TotalMilliseconds, Failed(context));
                return Task.CompletedTask;
            });
            return route;
        }
    }

    /// <summary>
    /// The deployment a call naming <paramref name="model"/> (a model key, as the auth gate rewrote it) without a version
    /// or alias follows; null when there is none (or the name carries an alias).
    /// </summary>
    public Deployment? Find(string model) => Find(_byModel, model);

    /// <summary>
    /// The version that stands for a deployment where one version must (metadata, <c>/api/v1/resolve</c>): its stable
    /// version while that takes traffic, else the version with the largest share (ties: the lowest).
    /// </summary>
    public static int PrimaryVersion(Deployment deployment) =>
        deployment.Traffic.Any(t => t.Version == deployment.Stable && t.Percent > 0)
            ? deployment.Stable
            : deployment.Traffic.OrderByDescending(t => t.Percent).ThenBy(t => t.Version).Select(t => t.Version).FirstOrDefault(deployment.Stable);

    /// <summary>Every version the split may route a call to (a share above 0), ascending; shadows answer no caller.</summary>
    public static IReadOnlyList<int> RoutedVersions(Deployment deployment) =>
        deployment.Traffic.Where(t => t.Percent > 0).Select(t => t.Version).Distinct().Order().ToArray();

    private static Deployment? Find(IReadOnlyDictionary<string, Deployment> snapshot, string model) =>
        snapshot.Count == 0 || model.Contains(':', StringComparison.Ordinal)
            ? null
            : snapshot.GetValueOrDefault(ModelKeys.Normalize(ModelKeys.UnescapeSlash(model)));

    /// <summary>
    /// Waits until no call this server routed to <paramref name="version"/> is still running (at most
    /// <paramref name="ceiling"/>; <see cref="Timeout.InfiniteTimeSpan"/> for no ceiling); false when some still were.
    /// New calls no longer pick it once the split moved. Woken by the last running call's end, not by polling.
    /// </summary>
    public async Task<bool> WaitForRoutedCallsAsync(string model, int version, TimeSpan ceiling, CancellationToken cancellationToken)
    {
        if (!_inFlight.TryGetValue((model, version), out var counter))
        {
            return true;
        }

        var drained = counter.Drained();
        if (drained.IsCompleted)
        {
            return true;
        }

        if (ceiling != Timeout.InfiniteTimeSpan && ceiling <= TimeSpan.Zero)
        {
            return false;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (ceiling != Timeout.InfiniteTimeSpan)
        {
            timeout.CancelAfter(ceiling < MaxCeiling ? ceiling : MaxCeiling);
        }

        while (true)
        {
            try
            {
                await drained.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                cancellationToken.ThrowIfCancellationRequested();
                return false;
            }

            // Woken when the count dropped to zero; a call that started since (it picked the version from a copy the
            // change had not reached yet, and picks again) keeps it waiting for the next drop.
            drained = counter.Drained();
            if (drained.IsCompleted)
            {
                return true;
            }
        }
    }

    /// <summary>
    /// Runs a routed call's inference, noting when the version failed to answer (any inference error but a
    /// cancellation: an input the engine refuses counts too, since the stable version took the same input).
    /// </summary>
    public static async Task<Maas.Core.TensorServing.InferenceResponse> WatchAsync(HttpContext context, DeploymentRoute? route,
        Task<Maas.Core.TensorServing.InferenceResponse> call)
    {
        if (route is null)
        {
            return await call;
        }

        try
        {
            return await call;
        }
        catch (Maas.Core.TensorServing.InferenceException e) when (e.Kind != Maas.Core.TensorServing.InferenceErrorKind.Cancelled)
        {
            context.Items[FailedKey] = true;
            throw;
        }
    }

    /// <summary>Writes <see cref="VersionHeader"/> (before the answer starts).</summary>
    public static void SetVersionHeader(HttpContext context, string version)
    {
        if (!context.Response.HasStarted)
        {
            context.Response.Headers[VersionHeader] = version;
        }
    }

    /// <summary>
    /// Clears a response that has not started for an error answer, keeping <see cref="VersionHeader"/>: an error says
    /// which version failed as a success says which answered.
    /// </summary>
    public static void ClearForError(HttpContext context)
    {
        var version = context.Response.Headers[VersionHeader];
        context.Response.Clear();
        if (!Microsoft.Extensions.Primitives.StringValues.IsNullOrEmpty(version))
        {
            context.Response.Headers[VersionHeader] = version;
        }
    }

    /// <summary>Reads every deployment again when the database's change counter moved (or <paramref name="force"/>).</summary>
    public async Task RefreshAsync(bool force, CancellationToken cancellationToken)
    {
        await _refresh.WaitAsync(cancellationToken);
        try
        {
            var counter = await store.ChangeCounterAsync(cancellationToken);
            if (!force && counter == Interlocked.Read(ref _seen))
            {
                Prune(_byModel);
                return;
            }

            var all = await store.ListAsync(null, cancellationToken);
            var old = _byModel;
            var fresh = all.ToDictionary(d => d.Model, StringComparer.Ordinal);
            _byModel = fresh;
            Interlocked.Exchange(ref _seen, counter);
            try
            {
                Changed?.Invoke(old, fresh);
            }
            catch (Exception e)
            {
                logger.LogError(e, "A deployment change handler failed");
            }

            Prune(fresh);
        }
        finally
        {
            _refresh.Release();
        }
    }

    /// <summary>Versions with a count of routed calls kept now (tests check that it returns to its start).</summary>
    internal int InFlightEntries => _inFlight.Count;

    // Runs under the refresh gate, after the copy was swapped (and on every poll, for calls that ended since): drops
    // the counts of versions no call can pick any more (deployment gone, or no share and not stable) once none of their
    // calls runs, and the metrics' windows no deployment records into any more. A call that took a count from the old
    // copy just before it went sees the new copy when it checks and picks again, so no running call is ever uncounted.
    private void Prune(IReadOnlyDictionary<string, Deployment> current)
    {
        foreach (var entry in _inFlight)
        {
            if (!Routable(current, entry.Key.Model, entry.Key.Version) && entry.Value.IsIdle)
            {
                _inFlight.TryRemove(entry);
            }
        }

        metrics.Prune(current);
    }

    private static bool Routable(IReadOnlyDictionary<string, Deployment> current, string model, int version)
    {
        if (!current.TryGetValue(model, out var deployment))
        {
            return false;
        }

        if (deployment.Stable == version)
        {
            return true;
        }

        foreach (var share in deployment.Traffic)
        {
            if (share.Version == version)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The version for one request: sticky callers hash to a fixed point of the split, others draw at random.</summary>
    public static int Pick(Deployment deployment, HttpContext? context)
    {
        var point = StickyValue(deployment, context) is { } value ? Bucket(deployment.Name, value) : Random.Shared.Next(100);
        var sum = 0;
        foreach (var share in deployment.Traffic)
        {
            sum += share.Percent;
            if (point < sum)
            {
                return share.Version;
            }
        }

        return deployment.Stable;
    }

    // 0..99 from a stable hash of the deployment and the caller's value: one caller, one point, on every server.
    private static int Bucket(string deployment, string value)
    {
        var hash = BinaryPrimitives.ReadUInt64LittleEndian(SHA256.HashData(Encoding.UTF8.GetBytes(deployment + "\n" + value)));
        return (int)(hash % 100);
    }

    private static string? StickyValue(Deployment deployment, HttpContext? context)
    {
        if (deployment.Sticky is not { } sticky || context is null)
        {
            return null;
        }

        if (sticky.Header is { Length: > 0 } header)
        {
            return context.Request.Headers[header].ToString() is { Length: > 0 } value ? value : null;
        }

        return context.GetCaller()?.KeyId;
    }

    // A failure of the version: its inference failed (WatchAsync), a 5xx, a 404 (the model has a deployment, so the
    // version it picked is what was not found: deleted with force), or a gRPC status that means the server failed.
    private static bool Failed(HttpContext context)
    {
        if (context.Response.StatusCode is >= 500 or StatusCodes.Status404NotFound || context.Items.ContainsKey(FailedKey))
        {
            return true;
        }

        var trailers = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseTrailersFeature>()?.Trailers;
        var status = trailers is not null && trailers.TryGetValue("grpc-status", out var t) ? t.ToString() : context.Response.Headers["grpc-status"].ToString();
        return status is "2" or "4" or "5" or "13" or "14" or "15";
    }

    // The longest ceiling a timer takes (about 49 days); longer ones wait that long.
    private static readonly TimeSpan MaxCeiling = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private static readonly object StreamKey = new();

    /// <summary>
    /// The calls routed to one version that are still running, and a signal for those waiting for them to end: the
    /// count and the signal change under one lock, so a call that ends after a waiter read the count wakes that waiter.
    /// </summary>
    private sealed class InFlight
    {
        private readonly Lock _gate = new();
        private int _count;
        private TaskCompletionSource? _drained;

        public void Enter()
        {
            lock (_gate)
            {
                _count++;
            }
        }

        public void Exit()
        {
            TaskCompletionSource? drained = null;
            lock (_gate)
            {
                if (--_count == 0)
                {
                    (drained, _drained) = (_drained, null);
                }
            }

            drained?.TrySetResult(); // continuations run asynchronously: never inside the ending call
        }

        /// <summary>True when no call is running (nobody waits then either).</summary>
        public bool IsIdle
        {
            get
            {
                lock (_gate)
                {
                    return _count == 0;
                }
            }
        }

        /// <summary>Completed when no call is running; else completes when the count next drops to zero.</summary>
        public Task Drained()
        {
            lock (_gate)
            {
                return _count == 0 ? Task.CompletedTask : (_drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
        }
    }

    /// <summary>A stream's count in flight: for the version its latest routed message went to, until the stream ends.</summary>
    private sealed class StreamHold
    {
        private InFlight? _counted;

        /// <summary>Counts the stream for <paramref name="counter"/> (already entered) instead of its previous version.</summary>
        public static void Move(HttpContext context, InFlight counter)
        {
            if (context.Items.TryGetValue(StreamKey, out var existing) && existing is StreamHold current)
            {
                current.Swap(counter);
                return;
            }

            var hold = new StreamHold { _counted = counter };
            context.Items[StreamKey] = hold;
            // Runs once the response has ended, however it ended: finished, failed, or its client went away.
            context.Response.OnCompleted(() =>
            {
                hold.Swap(null);
                return Task.CompletedTask;
            });
        }

        /// <summary>Stops counting the stream (its latest message was not routed); its end stays registered.</summary>
        public static void Release(HttpContext context)
        {
            if (context.Items.TryGetValue(StreamKey, out var existing) && existing is StreamHold hold)
            {
                hold.Swap(null);
            }
        }

        private void Swap(InFlight? next) => Interlocked.Exchange(ref _counted, next)?.Exit();
    }
}
