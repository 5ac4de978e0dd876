using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Maas.Core.Deployments;
using Maas.Core.Serving;
using Microsoft.Extensions.Options;

namespace Maas.Server.Deployments;

/// <summary>
/// Runs copies of live requests in the background: on a deployment's shadow versions, and on the stable version for
/// a canary whose plan compares outputs. Each copy's answer is compared with the live one and recorded in the
/// deployment's metrics; nothing here ever reaches the client or delays it. The queue is bounded: when it is full
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
            FullMode = BoundedChannelFullMode.DropWrite,
            SingleReader = false,
        });
    }

    /// <summary>
    /// Copies the inputs of a live tensor call when <paramref name="route"/>'s deployment wants copies of it (shadows,
    /// or a canary whose plan compares outputs); null otherwise. Taken before the call runs: the engine owns the inputs then.
    /// </summary>
    public ShadowCapture? Capture(DeploymentRoute? route, InferenceRequest live)
    {
        if (route is null || _options.ShadowQueueLength == 0)
        {
            return null;
        }

        var compareCanary = route.IsCanary && route.Deployment.Plan?.ComparesOutputs == true;
        return route.Deployment.Shadow.Count == 0 && !compareCanary
            ? null
            : new ShadowCapture(route, live.Inputs.Select(CopyOf).ToArray(), live.RequestedOutputs, compareCanary);
    }

    /// <summary>Queues the copies of a captured call with its live answer (after the answer was written); returns at once.</summary>
    public void Offer(ShadowCapture? capture, InferenceResponse answer)
    {
        if (capture is null)
        {
            return;
        }

        var deployment = capture.Route.Deployment;
        var outputs = answer.Outputs.Select(CopyOf).ToArray();
        foreach (var shadow in deployment.Shadow)
        {
            Enqueue(new Copy(deployment, shadow.Version, shadow.Version, capture.Inputs, outputs, capture.RequestedOutputs, CandidateIsRun: true));
        }

        if (capture.CompareCanary)
        {
            Enqueue(new Copy(deployment, deployment.Stable, capture.Route.Version, capture.Inputs, outputs, capture.RequestedOutputs, CandidateIsRun: false));
        }
    }

    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Enumerable.Range(0, _options.ShadowConcurrency).Select(_ => Task.Run(() => WorkAsync(stoppingToken), CancellationToken.None)));

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
            using var response = await _models.InferAsync(
                d.Model,
                copy.Run.ToString(CultureInfo.InvariantCulture),
                new InferenceRequest { Inputs = copy.Inputs.Select(Share).ToArray(), RequestedOutputs = copy.RequestedOutputs },
                stoppingToken);
            if (copy.CandidateIsRun)
            {
                // A shadow: its answer against the live one.
                _metrics.RecordRequest(d.Model, d.StepStartedAt, copy.RecordAs, Stopwatch.GetElapsedTime(started).TotalMilliseconds, failed: false);
                _metrics.RecordComparison(d.Model, d.StepStartedAt, copy.RecordAs, OutputDifference.Of(response.Outputs, copy.Answer));
            }
            else
            {
                // A canary: its live answer against the stable version's.
                _metrics.RecordComparison(d.Model, d.StepStartedAt, copy.RecordAs, OutputDifference.Of(copy.Answer, response.Outputs));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            if (copy.CandidateIsRun)
            {
                _metrics.RecordRequest(d.Model, d.StepStartedAt, copy.RecordAs, Stopwatch.GetElapsedTime(started).TotalMilliseconds, failed: true);
            }

            _logger.LogDebug("Shadow run of {Model} version {Version} failed: {Message}", d.Model, copy.Run, e.Message);
        }
    }

    private static Tensor CopyOf(Tensor t) => Tensor.Wrap(t.Name, t.DataType, (long[])t.Shape.Clone(), t.Data.ToArray());

    // A view over the copy's bytes for one run (the engine may dispose it; the bytes are managed memory).
    private static Tensor Share(Tensor t) => Tensor.Wrap(t.Name, t.DataType, (long[])t.Shape.Clone(), t.Data);

    /// <summary>The copied inputs of one live call, waiting for its answer.</summary>
    public sealed record ShadowCapture(DeploymentRoute Route, Tensor[] Inputs, IReadOnlyList<string>? RequestedOutputs, bool CompareCanary);

    private sealed record Copy(Deployment Deployment, int Run, int RecordAs, Tensor[] Inputs, Tensor[] Answer, IReadOnlyList<string>? RequestedOutputs, bool CandidateIsRun);
}
