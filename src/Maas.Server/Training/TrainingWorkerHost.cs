using Maas.Core.Datasets;
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
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddEnvironmentVariables("MAAS_");
        if (Environment.GetEnvironmentVariable("MAAS_DATA_DIR") is { Length: > 0 } dataDirVariable)
        {
            builder.Configuration.AddInMemoryCollection([new("Maas:DataDir", dataDirVariable)]);
        }

        builder.Configuration.AddCommandLine(args);
        var config = builder.Configuration;
        T Bind<T>(string section)
            where T : new()
        {
            var value = new T();
            config.GetSection(section).Bind(value);
            return value;
        }

        var dataDir = config["Maas:DataDir"] is { Length: > 0 } d ? d : MaasOptions.DefaultDataDir();
        var training = Bind<TrainingOptions>(TrainingOptions.Section);
        var database = Bind<DatabaseOptions>(DatabaseOptions.Section);
        var artifactOptions = Bind<ArtifactStoreOptions>(ArtifactStoreOptions.Section);
        var fineTuning = Bind<Maas.Core.FineTuning.FineTuningOptions>(Maas.Core.FineTuning.FineTuningOptions.Section);
        var optimizationOptions = Bind<Maas.Optimization.OptimizationOptions>(Maas.Optimization.OptimizationOptions.Section);
        var registryOptions = Bind<RegistryOptions>(RegistryOptions.Section);
        var servingLimits = Bind<ServingLimits>(ServingLimits.Section);
        var problems = training.Validate().Concat(database.Validate()).Concat(artifactOptions.Validate()).Concat(fineTuning.Validate()).Concat(optimizationOptions.Validate())
            .Concat(registryOptions.Validate()).Concat(servingLimits.Validate()).ToArray();
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
        await using var store = new SqlRegistryStore(StorageFactory.CreateDialect(database, dataDir));
        await store.MigrateAsync(CancellationToken.None);
        var artifacts = StorageFactory.CreateArtifactStore(artifactOptions, dataDir);
        var staging = new StagingArea(Path.Combine(dataDir, "tmp", "staging"));
        var tenancy = new SqlTenancyStore(store.Dialect);
        // The server's registry, built the same way. No version-use checks: they refuse deleting a version that a
        // deployment routes to or that this process hosts, and a worker deletes no version or model and hosts none
        // (the server that does keeps its checks). The per-tenant quotas are read from the database at each
        // registration: a worker has no key cache to keep them in.
        var registry = Registry.RegistryExtensions.CreateModelRegistry(
            store,
            artifacts,
            staging,
            registryOptions,
            servingLimits,
            useChecks: [],
            host.Services.GetService<TimeProvider>(),
            async (tenant, cancellationToken) => (await tenancy.GetTenantAsync(tenant, cancellationToken))?.Limits);
        var datasetStore = new SqlDatasetStore(store.Dialect);
        var datasets = new DatasetCatalog(datasetStore, artifacts, store, registry, staging, Bind<DatasetOptions>(DatasetOptions.Section));
        var fineTuningHandler = new FineTuning.FineTuningJobHandler(registry, artifacts, fineTuning, host.Services.GetRequiredService<ILogger<FineTuning.FineTuningJobHandler>>());
        var queue = new SqlJobQueueStore(store.Dialect);
        var optimization = new Maas.Optimization.OptimizationJobHandler(registry, datasets, optimizationOptions);
        IJobHandler[] handlers = [new TrainingJobHandler(datasets, datasetStore, registry, training.Threads, training.Nice), new TrialJobHandler(datasets, training.Threads, training.Nice), fineTuningHandler, optimization];
        var workers = Enumerable.Range(0, Math.Max(1, training.Workers)).Select(i =>
        {
            var worker = new JobWorker(queue, artifacts, handlers, Path.Combine(dataDir, "tmp", "jobs"), TrainingWorkers.Options(training, $"{Environment.MachineName}:{Environment.ProcessId}:{i}"));
            worker.Crashed += (id, e) => logger.LogError(e, "Job {Id} failed unexpectedly", id);
            return worker;
        }).ToArray();

        using var stopping = new CancellationTokenSource();
        using var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(stopping.Cancel);
        await host.StartAsync();
        logger.LogInformation("Training worker ready: {Count} worker(s), {Threads} thread(s) each, lease {Lease} s", workers.Length, training.Threads, training.LeaseSeconds);
        await Task.WhenAll(workers.Select(w => Task.Run(() => w.RunAsync(stopping.Token))));
        await host.StopAsync();
        return 0;
    }
}
