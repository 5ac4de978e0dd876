using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Maas.Core.Deployments;
using Maas.Core.TensorServing;
using Microsoft.Extensions.Options;

namespace Maas.Server.Deployments;

/// <summary>
/// Runs copies of live requests in the background: on a deployment's shadow versions, and on the stable version for
/// a canary whose plan compares outputs. Each copy's answer (tensors, or an OpenAI call's text) is compared with the
/// live one and recorded in the deployment's metrics; copies are queued only after the live answer was written, so
/// nothing here ever reaches the client or delays it. The queue is bounded: when it is full
/// a copy is dropped (and counted).
/// </summary>
public sealed class ShadowQueue : BackgroundService
{
    private readonly Channel<Copy> _channel;
    private readonly ModelManager _models;
    private readonly DeploymentMetrics _metrics;
    private readonly DeploymentOptions _options;
    private readonly ILogger<ShadowQueue> _logger;

    /// <summary>Creates the queue.</summary>
    public ShadowQueue(ModelManager models, DeploymentMetrics metrics, IOptions<DeploymentOptions> options, ILogger<ShadowQueue> logger)
    {
        _models = models;
        _metrics = metrics;
        _options = options.Value;
        _logger = logger;
        _channel = Channel.CreateBounded<Copy>(new BoundedChannelOptions(Math.Max(1, _options.ShadowQueueLength))
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then says when the queue is full (DropWrite would drop silently)
            SingleReader = false,
        });
    }

    /// <summary>
    /// True when <paramref name="route"/>'s deployment wants copies of its calls: it has shadows, or the call went to a
    /// canary whose plan compares outputs (then the stable version runs the copy).
    /// </summary>
    public bool WantsCopies(DeploymentRoute? route) =>
        route is not null && _options.ShadowQueueLength > 0 && (route.Deployment.Shadow.Count > 0 || CompareCanary(route));

    /// <summary>
    /// Copies the inputs of a live tensor call when <paramref name="route"/>'s deployment wants copies of it (shadows,
    /// or a canary whose plan compares outputs); null otherwise. Taken before the call runs: the engine owns the inputs then.
    /// </summary>
    public ShadowCapture? Capture(DeploymentRoute? route, InferenceRequest live) =>
        route is null || !WantsCopies(route)
            ? null
            : new ShadowCapture(route, live.Inputs.Select(CopyOf).ToArray(), live.RequestedOutputs, CompareCanary(route));

    /// <summary>Queues the copies of a captured call with its live answer (after the answer was written); returns at once.</summary>
    public void Offer(ShadowCapture? capture, InferenceResponse answer)
    {
        if (capture is null)
        {
            return;
        }

        var d = capture.Route.Deployment;
        var outputs = answer.Outputs.Select(CopyOf).ToArray();
        Offer(capture.Route, async (run, candidateIsRun, cancellationToken) =>
        {
            using var response = await _models.InferAsync(
                d.Model,
                run.ToString(CultureInfo.InvariantCulture),
                new InferenceRequest { Inputs = capture.Inputs.Select(Share).ToArray(), RequestedOutputs = capture.RequestedOutputs },
                cancellationToken);
            return candidateIsRun ? OutputDifference.Of(response.Outputs, outputs) : OutputDifference.Of(outputs, response.Outputs);
        });
    }

    /// <summary>
    /// Queues copies of a finished live text call (OpenAI chat or completions; <paramref name="answer"/> holds its text
    /// per choice) when its deployment wants them; returns at once. <paramref name="generate"/> asks one version the
    /// same request, whole (never streamed), and gives its text per choice, or null when that version was too busy to
    /// take it (the copy counts as dropped, not failed).
    /// </summary>
    public void OfferText(DeploymentRoute? route, IReadOnlyList<string> answer, Func<int, CancellationToken, Task<IReadOnlyList<string>?>> generate)
    {
        if (route is null || !WantsCopies(route))
        {
            return;
        }

        var live = answer.ToArray();
        Offer(route, async (run, candidateIsRun, cancellationToken) =>
        {
            var texts = await generate(run, cancellationToken);
            return texts is null ? null : candidateIsRun ? OutputDifference.OfTexts(texts, live) : OutputDifference.OfTexts(live, texts);
        });
    }

    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Enumerable.Range(0, _options.ShadowConcurrency).Select(_ => Task.Run(() => WorkAsync(stoppingToken), CancellationToken.None)));

    // One copy per shadow version (its answer against the live one), and for a comparing canary one on the stable
    // version (the canary's live answer against it).
    private void Offer(DeploymentRoute route, Func<int, bool, CancellationToken, Task<OutputDifference?>> compare)
    {
        var deployment = route.Deployment;
        foreach (var shadow in deployment.Shadow)
        {
            Enqueue(new Copy(deployment, shadow.Version, shadow.Version, CandidateIsRun: true, compare));
        }

        if (CompareCanary(route))
        {
            Enqueue(new Copy(deployment, deployment.Stable, route.Version, CandidateIsRun: false, compare));
        }
    }

    private static bool CompareCanary(DeploymentRoute route) => route.IsCanary && route.Deployment.Plan?.ComparesOutputs == true;

    private void Enqueue(Copy copy)
    {
        if (!_channel.Writer.TryWrite(copy))
        {
            _metrics.RecordDropped(copy.Deployment.Model, copy.Deployment.StepStartedAt, copy.RecordAs);
        }
    }

    private async Task WorkAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var copy in _channel.Reader.ReadAllAsync(stoppingToken))
            {
                await RunAsync(copy, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: copies still queued are dropped, as a full queue would.
        }
    }

    private async Task RunAsync(Copy copy, CancellationToken stoppingToken)
    {
        var d = copy.Deployment;
        var started = Stopwatch.GetTimestamp();
        try
        {
            var difference = await copy.Compare(copy.Run, copy.CandidateIsRun, stoppingToken);
            if (difference is not { } diff)
            {
                _metrics.RecordDropped(d.Model, d.StepStartedAt, copy.RecordAs);
                return;
            }

            if (copy.CandidateIsRun)
            {
                // A shadow's own run counts as its request (the canary's live request was counted by the router).
                _metrics.RecordRequest(d.Model, d.StepStartedAt, copy.RecordAs, Stopwatch.GetElapsedTime(started).TotalMilliseconds, failed: false, shadow: true);
            }

            _metrics.RecordComparison(d.Model, d.StepStartedAt, copy.RecordAs, diff);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            if (copy.CandidateIsRun)
            {
                _metrics.RecordRequest(d.Model, d.StepStartedAt, copy.RecordAs, Stopwatch.GetElapsedTime(started).TotalMilliseconds, failed: true, shadow: true);
            }

            _logger.LogDebug("Shadow run of {Model} version {Version} failed: {Message}", d.Model, copy.Run, e.Message);
        }
    }

    private static Tensor CopyOf(Tensor t) => Tensor.Wrap(t.Name, t.DataType, (long[])t.Shape.Clone(), t.Data.ToArray());

    // A view over the copy's bytes for one run (the engine may dispose it; the bytes are managed memory).
    private static Tensor Share(Tensor t) => Tensor.Wrap(t.Name, t.DataType, (long[])t.Shape.Clone(), t.Data);

    /// <summary>The copied inputs of one live call, waiting for its answer.</summary>
    public sealed record ShadowCapture(DeploymentRoute Route, Tensor[] Inputs, IReadOnlyList<string>? RequestedOutputs, bool CompareCanary);

    // Compare runs version Run and measures the candidate (Run itself when CandidateIsRun, else the live answer) against the reference.
    private sealed record Copy(Deployment Deployment, int Run, int RecordAs, bool CandidateIsRun, Func<int, bool, CancellationToken, Task<OutputDifference?>> Compare);
}
