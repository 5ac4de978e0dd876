using Maas.Core.Datasets;
using Maas.Core.Instances;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Training;
using Maas.Server.Hosting;
using Maas.Storage;
using Maas.Storage.Datasets;
using Maas.Storage.Jobs;
using Maas.Storage.Sql;
using Maas.Storage.Tenancy;
using Maas.Training;

namespace Maas.Server.Training;

/// <summary>
/// <c>Maas.Server worker</c>: a training worker with no HTTP server, for another process or machine. It reads the
/// same settings as the server (MAAS_ variables, --Maas:... arguments) and works against the same database and
/// artifact store, claiming jobs with a lease.
/// </summary>
public static class TrainingWorkerHost
{
    /// <summary>Runs workers until SIGINT/SIGTERM; returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var builder = CreateBuilder(args);
        var config = builder.Configuration;
        var settings = Settings.Read(config);
        var problems = settings.Validate();
        if (problems.Length > 0)
        {
            foreach (var problem in problems)
            {
                Console.Error.WriteLine($"maas worker: configuration: {problem}");
            }

            return ConfigurationErrors.ExitCode;
        }

        using var host = builder.Build();
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Maas.Worker");
        // The worker is an instance like a server: the versions it registers and the drafts it stages are its own, and
        // its heartbeat keeps a server starting meanwhile from taking them for a crash's leftovers.
        var instanceId = InstanceHeartbeat.NewId();
        await using var store = new SqlRegistryStore(StorageFactory.CreateDialect(settings.Database, settings.DataDir), instanceId: instanceId);
        await store.MigrateAsync(CancellationToken.None);
        await using var instance = new InstanceHeartbeat(store, instanceId, "worker", settings.Instances, host.Services.GetService<TimeProvider>());
        instance.BeatFailed += e => logger.LogWarning(e, "Renewing this worker's heartbeat (instance {Id}) failed; trying again", instanceId);
        await instance.StartAsync(CancellationToken.None);
        var artifacts = StorageFactory.CreateArtifactStore(settings.Artifacts, settings.DataDir);
        var handlers = CreateHandlers(host, store, artifacts, settings, config, instanceId);
        var queue = new SqlJobQueueStore(store.Dialect);
        var workers = Enumerable.Range(0, Math.Max(1, settings.Training.Workers)).Select(i =>
        {
            var worker = new JobWorker(queue, artifacts, handlers, Path.Combine(settings.DataDir, "tmp", "jobs"),
                TrainingWorkers.Options(settings.Training, $"{Environment.MachineName}:{Environment.ProcessId}:{i}"));
            worker.Crashed += (id, e) => logger.LogError(e, "Job {Id} failed unexpectedly", id);
            return worker;
        }).ToArray();

        using var stopping = new CancellationTokenSource();
        using var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(stopping.Cancel);
        await host.StartAsync();
        logger.LogInformation("Training worker ready: {Count} worker(s), {Threads} thread(s) each, lease {Lease} s", workers.Length, settings.Training.Threads,
            settings.Training.LeaseSeconds);
        await Task.WhenAll(workers.Select(w => Task.Run(() => w.RunAsync(stopping.Token))));
        await instance.StopAsync();
        await host.StopAsync();
        return 0;
    }

    /// <summary>The host builder with the server's configuration sources: MAAS_ variables (MAAS_DATA_DIR too) and the command line.</summary>
    private static HostApplicationBuilder CreateBuilder(string[] args)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddEnvironmentVariables("MAAS_");
        if (Environment.GetEnvironmentVariable("MAAS_DATA_DIR") is { Length: > 0 } dataDirVariable)
        {
            builder.Configuration.AddInMemoryCollection([new("Maas:DataDir", dataDirVariable)]);
        }

        builder.Configuration.AddCommandLine(args);
        return builder;
    }

    /// <summary>The handlers of every job kind a worker runs, over the server's registry and dataset catalog.</summary>
    private static IJobHandler[] CreateHandlers(IHost host, SqlRegistryStore store, IArtifactStore artifacts, Settings settings, IConfiguration config, string instanceId)
    {
        var staging = new StagingArea(Path.Combine(settings.DataDir, "tmp", "staging"), instanceId);
        var tenancy = new SqlTenancyStore(store.Dialect);
        // The server's registry, built the same way. No version-use checks: they refuse deleting a version that a
        // deployment routes to or that this process hosts, and a worker deletes no version or model and hosts none
        // (the server that does keeps its checks). The per-tenant quotas are read from the database at each
        // registration: a worker has no key cache to keep them in.
        var registry = Registry.RegistryExtensions.CreateModelRegistry(
            store,
            artifacts,
            staging,
            settings.Registry,
            settings.ServingLimits,
            useChecks: [],
            host.Services.GetService<TimeProvider>(),
            async (tenant, cancellationToken) => (await tenancy.GetTenantAsync(tenant, cancellationToken))?.Limits);
        var datasetStore = new SqlDatasetStore(store.Dialect);
        var datasets = new DatasetCatalog(datasetStore, artifacts, store, registry, staging, Bind<DatasetOptions>(config, DatasetOptions.Section));
        var fineTuningHandler = new FineTuning.FineTuningJobHandler(registry, artifacts, settings.FineTuning,
            host.Services.GetRequiredService<ILogger<FineTuning.FineTuningJobHandler>>());
        var optimization = new Maas.Optimization.OptimizationJobHandler(registry, datasets, settings.Optimization);
        return [new TrainingJobHandler(datasets, datasetStore, registry, settings.Training.Threads, settings.Training.Nice),
            new TrialJobHandler(datasets, settings.Training.Threads, settings.Training.Nice), fineTuningHandler, optimization];
    }

    private static T Bind<T>(IConfiguration config, string section)
        where T : new()
    {
        var value = new T();
        config.GetSection(section).Bind(value);
        return value;
    }

    /// <summary>The settings a worker checks at start-up, bound from the server's configuration sections.</summary>
    private sealed record Settings(
        string DataDir,
        TrainingOptions Training,
        DatabaseOptions Database,
        ArtifactStoreOptions Artifacts,
        Maas.Core.FineTuning.FineTuningOptions FineTuning,
        Maas.Optimization.OptimizationOptions Optimization,
        RegistryOptions Registry,
        ServingLimits ServingLimits,
        InstanceOptions Instances)
    {
        public static Settings Read(IConfiguration config) => new(
            config["Maas:DataDir"] is { Length: > 0 } d ? d : MaasOptions.DefaultDataDir(),
            Bind<TrainingOptions>(config, TrainingOptions.Section),
            Bind<DatabaseOptions>(config, DatabaseOptions.Section),
            Bind<ArtifactStoreOptions>(config, ArtifactStoreOptions.Section),
            Bind<Maas.Core.FineTuning.FineTuningOptions>(config, Maas.Core.FineTuning.FineTuningOptions.Section),
            Bind<Maas.Optimization.OptimizationOptions>(config, Maas.Optimization.OptimizationOptions.Section),
            Bind<RegistryOptions>(config, RegistryOptions.Section),
            Bind<ServingLimits>(config, ServingLimits.Section),
            Bind<InstanceOptions>(config, InstanceOptions.Section));

        /// <summary>The problems of every section.</summary>
        public string[] Validate() => Training.Validate().Concat(Database.Validate()).Concat(Artifacts.Validate()).Concat(FineTuning.Validate()).Concat(Optimization.Validate())
            .Concat(Registry.Validate()).Concat(ServingLimits.Validate()).Concat(Instances.Validate()).ToArray();
    }
}
