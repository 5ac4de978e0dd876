using Maas.Core.Hosting;
using Maas.Core.Instances;
using Maas.Core.Jobs;
using Maas.Core.Registry;
using Maas.Core.Registry.Import;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Hosting;
using Maas.Server.Jobs;
using Maas.Storage;
using Maas.Storage.Jobs;
using Maas.Storage.Sql;
using Microsoft.Extensions.Options;

namespace Maas.Server.Registry;

/// <summary>The model registry feature: storage, artifacts, uploads, imports, and its REST API under /api/v1.</summary>
public static class RegistryExtensions
{
    /// <summary>The keyed HttpClient imports download with (no automatic redirects: the importer follows them).</summary>
    public const string ImportHttpClient = "maas-registry-import";

    /// <summary>Registers the registry's options, database, artifact store, jobs and start-up recovery.</summary>
    public static WebApplicationBuilder AddMaasRegistry(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        Bind<RegistryOptions>(builder, RegistryOptions.Section, o => o.Validate());
        Bind<DatabaseOptions>(builder, DatabaseOptions.Section, o => o.Validate());
        Bind<ArtifactStoreOptions>(builder, ArtifactStoreOptions.Section, o => o.Validate());
        Bind<ServingLimits>(builder, ServingLimits.Section, o => o.Validate());
        Bind<MultipartLimits>(builder, MultipartLimits.Section, o => o.Validate());
        Bind<ApiOptions>(builder, ApiOptions.Section, o => o.Validate());
        Bind<InstanceOptions>(builder, InstanceOptions.Section, o => o.Validate());

        // This process's instance: it owns the versions it uploads, the imports it runs and the drafts it stages, and
        // its heartbeat tells the other processes on the database that they are not a crash's leftovers.
        var instanceId = InstanceHeartbeat.NewId();
        services.AddSingleton(sp => new SqlRegistryStore(
            StorageFactory.CreateDialect(sp.GetRequiredService<IOptions<DatabaseOptions>>().Value, DataDir(sp)),
            instanceId: instanceId));
        services.AddSingleton(sp =>
        {
            var heartbeat = new InstanceHeartbeat(
                sp.GetRequiredService<SqlRegistryStore>(), instanceId, "server", sp.GetRequiredService<IOptions<InstanceOptions>>().Value, sp.GetService<TimeProvider>());
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger<InstanceHeartbeat>();
            heartbeat.BeatFailed += e => logger.LogWarning(e, "Renewing this server's heartbeat (instance {Id}) failed; trying again", instanceId);
            return heartbeat;
        });
        services.AddSingleton<IRegistryStore>(sp => sp.GetRequiredService<SqlRegistryStore>());
        services.AddSingleton<IJobStore>(sp => new SqlJobStore(sp.GetRequiredService<SqlRegistryStore>().Dialect, instanceId));
        services.AddSingleton(sp => StorageFactory.CreateArtifactStore(sp.GetRequiredService<IOptions<ArtifactStoreOptions>>().Value, DataDir(sp)));
        services.AddSingleton(sp => new StagingArea(Path.Combine(DataDir(sp), "tmp", "staging"), instanceId));
        services.AddSingleton(sp =>
        {
            // An admin may give a tenant its own quota in its limits (cached with the tenant's other limits); a server
            // without the auth gate has no tenants' limits.
            var keys = sp.GetService<Auth.ApiKeyAuthenticator>();
            return CreateModelRegistry(
                sp.GetRequiredService<IRegistryStore>(),
                sp.GetRequiredService<IArtifactStore>(),
                sp.GetRequiredService<StagingArea>(),
                sp.GetRequiredService<IOptions<RegistryOptions>>().Value,
                sp.GetRequiredService<IOptions<ServingLimits>>().Value,
                sp.GetServices<IVersionUseCheck>(),
                sp.GetService<TimeProvider>(),
                async (tenant, cancellationToken) => keys is null ? null : await keys.GetTenantLimitsAsync(tenant, cancellationToken));
        });
        services.AddSingleton<IModelRegistry>(sp => sp.GetRequiredService<ModelRegistry>());
        services.AddSingleton(sp => new ModelUploads(sp.GetRequiredService<ModelRegistry>()));
        services.AddSingleton(sp =>
        {
            var runner = new JobRunner(sp.GetRequiredService<IJobStore>(), sp.GetRequiredService<IOptions<RegistryOptions>>().Value.MaxConcurrentImports);
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger<JobRunner>();
            runner.Crashed += (job, e) => logger.LogError(e, "Job {Id} ({Kind}) failed unexpectedly", job.Id, job.Kind);
            return runner;
        });
        services.AddSingleton(sp => new ImportNetworkPolicy(sp.GetRequiredService<IOptions<RegistryOptions>>().Value));
        services.AddKeyedSingleton(ImportHttpClient, (sp, _) => new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = sp.GetRequiredService<ImportNetworkPolicy>().ConnectAsync,
            UseProxy = false, // the policy checks the addresses it connects to, which a proxy would hide
            AllowAutoRedirect = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
        })
        {
            Timeout = Timeout.InfiniteTimeSpan, // The importer's own stall timeout decides; a 10 GB download takes long.
        });
        services.AddSingleton(sp => new ModelImporter(
            sp.GetRequiredService<IModelRegistry>(),
            sp.GetRequiredService<JobRunner>(),
            sp.GetRequiredKeyedService<HttpClient>(ImportHttpClient),
            sp.GetRequiredService<IOptions<RegistryOptions>>().Value,
            sp.GetRequiredService<ImportNetworkPolicy>()));
        services.AddSingleton<RegistryStartup>();
        services.AddHostedService(sp => sp.GetRequiredService<RegistryStartup>());
        services.AddSingleton<IReadinessCheck, RegistryReadiness>();
        return builder;
    }

    /// <summary>
    /// The one construction of the model registry, for the server and for a separate training worker
    /// (<see cref="Training.TrainingWorkerHost"/>): its options (<see cref="RegistryOptions.Section"/>) and serving
    /// maxima (<see cref="ServingLimits.Section"/>), the checks that refuse deleting a version in use, the clock, and
    /// each tenant's own storage quota read through <paramref name="limitsOf"/>.
    /// </summary>
    internal static ModelRegistry CreateModelRegistry(
        IRegistryStore store,
        IArtifactStore artifacts,
        StagingArea staging,
        RegistryOptions options,
        ServingLimits servingLimits,
        IEnumerable<IVersionUseCheck> useChecks,
        TimeProvider? time,
        Func<string, CancellationToken, ValueTask<UsageLimits?>> limitsOf) =>
        new(store, artifacts, staging, options, useChecks, time, servingLimits)
        {
            TenantStorageQuotas = StorageQuotasFromLimits(limitsOf),
        };

    /// <summary>
    /// <see cref="ModelRegistry.TenantStorageQuotas"/> from a tenant's limits: its own <c>storage_quota_bytes</c> when an
    /// admin set one, else null (the server-wide quota). The server reads the limits through its key cache, a separate
    /// training worker (<see cref="Training.TrainingWorkerHost"/>) straight from the tenancy store; both apply this.
    /// </summary>
    private static Func<string, CancellationToken, ValueTask<long?>> StorageQuotasFromLimits(Func<string, CancellationToken, ValueTask<UsageLimits?>> limitsOf) =>
        async (tenant, cancellationToken) => (await limitsOf(tenant, cancellationToken))?.StorageQuotaBytes;

    /// <summary>Maps the registry and job routes under /api/v1, with JSON errors and a JSON 404 for unknown routes.</summary>
    public static IEndpointRouteBuilder MapMaasRegistry(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").WithApiErrors().RequireReadWriteScopes([MaasScopes.ModelsRead], [MaasScopes.ModelsWrite]);
        api.WaitForRegistry();
        ModelEndpoints.Map(api);
        VersionEndpoints.Map(api);
        UploadEndpoints.Map(api);
        AliasEndpoints.Map(api);
        api.MapMaasJobs();
        app.MapApiFallback();
        return app;
    }

    private static string DataDir(IServiceProvider services) => services.GetRequiredService<IOptions<MaasOptions>>().Value.DataDir;

    private static void Bind<T>(WebApplicationBuilder builder, string section, Func<T, IReadOnlyList<string>> validate)
        where T : class
    {
        builder.Services.AddOptions<T>().Bind(builder.Configuration.GetSection(section)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<T>>(new ListValidator<T>(validate));
    }

    private sealed class ListValidator<T>(Func<T, IReadOnlyList<string>> validate) : IValidateOptions<T>
        where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            var errors = validate(options);
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
