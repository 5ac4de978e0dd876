using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Training;
using Maas.Server.Registry;
using Microsoft.Extensions.Options;

namespace Maas.Server.Training;

/// <summary>The in-process training workers (<c>Maas:Training:Workers</c> of them), started once the registry is ready.</summary>
internal sealed class TrainingWorkers : BackgroundService
{
    private readonly RegistryStartup _registry;
    private readonly List<JobWorker> _workers = [];

    /// <summary>Creates the workers from the options; they start once <paramref name="registry"/> is ready.</summary>
    public TrainingWorkers(RegistryStartup registry, IOptions<TrainingOptions> options, IJobQueueStore store, IArtifactStore artifacts, IEnumerable<IJobHandler> handlers,
        IOptions<Hosting.MaasOptions> maas, ILogger<TrainingWorkers> logger)
    {
        _registry = registry;
        var o = options.Value;
        var handlerList = handlers.ToArray();
        for (var i = 0; i < o.Workers; i++)
        {
            var worker = new JobWorker(store, artifacts, handlerList, Path.Combine(maas.Value.DataDir, "tmp", "jobs"),
                Options(o, $"{Environment.MachineName}:{Environment.ProcessId}:{i}"));
            worker.Crashed += (id, e) => logger.LogError(e, "Job {Id} failed unexpectedly in worker {Worker}", id, worker.Options.Name);
            _workers.Add(worker);
        }
    }

    /// <summary>The worker settings of the training options.</summary>
    public static JobWorkerOptions Options(TrainingOptions o, string name) => new()
    {
        Name = name,
        Lease = TimeSpan.FromSeconds(o.LeaseSeconds),
        Poll = TimeSpan.FromMilliseconds(o.PollMilliseconds),
        MaxAttempts = o.MaxAttempts,
    };

    /// <summary>Wakes idle workers (a job was just queued).</summary>
    public void Nudge()
    {
        foreach (var worker in _workers)
        {
            worker.Nudge();
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_workers.Count == 0)
        {
            return;
        }

        try
        {
            await _registry.Ready.WaitAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        await Task.WhenAll(_workers.Select(w => Task.Run(() => w.RunAsync(stoppingToken), CancellationToken.None)));
    }
}
