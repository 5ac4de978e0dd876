using Maas.Core.Datasets;
using Maas.Core.Hosting;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Core.Training;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Registry;
using Maas.Storage.Jobs;
using Maas.Storage.Sql;
using Maas.Training;
using Microsoft.Extensions.Options;

namespace Maas.Server.Training;

/// <summary>The training feature: the job queue on the registry's database, the in-process workers and /api/v1/training.</summary>
public static class TrainingExtensions
{
    /// <summary>Registers the training options, job store, handler and workers.</summary>
    public static WebApplicationBuilder AddMaasTraining(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<TrainingOptions>().Bind(builder.Configuration.GetSection(TrainingOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TrainingOptions>>(new TrainingOptionsValidator());
        services.AddSingleton<IJobQueueStore>(sp => new SqlJobQueueStore(sp.GetRequiredService<SqlRegistryStore>().Dialect));
        services.AddSingleton<IJobHandler>(sp => new TrainingJobHandler(
            sp.GetRequiredService<DatasetCatalog>(),
            sp.GetRequiredService<IDatasetStore>(),
            sp.GetRequiredService<IModelRegistry>(),
            sp.GetRequiredService<IOptions<TrainingOptions>>().Value.Threads,
            sp.GetRequiredService<IOptions<TrainingOptions>>().Value.Nice,
            ServingYieldOf(sp)));
        services.AddSingleton<IJobHandler>(sp => new TrialJobHandler(
            sp.GetRequiredService<DatasetCatalog>(), sp.GetRequiredService<IOptions<TrainingOptions>>().Value.Threads,
                sp.GetRequiredService<IOptions<TrainingOptions>>().Value.Nice, ServingYieldOf(sp)));
        services.AddSingleton<IJobHandler>(sp => new EvaluationJobHandler(sp.GetRequiredService<DatasetCatalog>(), sp.GetRequiredService<IModelRegistry>()));
        services.AddSingleton<TrainingWorkers>();
        services.AddSingleton<Jobs.JobSubmissionGate>();
        services.AddHostedService(sp => sp.GetRequiredService<TrainingWorkers>());
        return builder;
    }

    /// <summary>Maps /api/v1/training (training:read for reads, training:write for submit and cancel) and a version's evaluations (models:read).</summary>
    public static IEndpointRouteBuilder MapMaasTraining(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").WithApiErrors().RequireReadWriteScopes([MaasScopes.TrainingRead], [MaasScopes.TrainingWrite]);
        api.WaitForRegistry();
        TrainingEndpoints.Map(api);

        // Evaluating a version reads it (models:read, also for the POST that queues the job) and a dataset (datasets:read, checked by the route).
        var evaluations = app.MapGroup("/api/v1").WithApiErrors().RequireScope(MaasScopes.ModelsRead);
        evaluations.WaitForRegistry();
        EvaluationEndpoints.Map(evaluations);
        return app;
    }

    /// <summary>
    /// How in-process training and fine-tuning give way to this process's serving (the model host's signal,
    /// Maas:Training:ServingShare); null when that is off (share 1) or nothing serves here. A factory of the
    /// composition root: it reads the container once, when a job handler is created.
    /// </summary>
    internal static ServingYield? ServingYieldOf(IServiceProvider sp)
    {
        var share = sp.GetRequiredService<IOptions<TrainingOptions>>().Value.ServingShare;
        return share < 1 && sp.GetService<ModelHost>() is { } host ? new ServingYield(host.Activity, share, sp.GetService<TimeProvider>()) : null;
    }

    private sealed class TrainingOptionsValidator : IValidateOptions<TrainingOptions>
    {
        public ValidateOptionsResult Validate(string? name, TrainingOptions options) =>
            options.Validate() is { Count: > 0 } errors ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }
}
