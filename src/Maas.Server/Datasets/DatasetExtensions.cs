using Maas.Core.Datasets;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Registry;
using Maas.Storage.Datasets;
using Maas.Storage.Sql;
using Microsoft.Extensions.Options;

namespace Maas.Server.Datasets;

/// <summary>The datasets feature: their store on the registry's database, the catalog, and /api/v1/datasets.</summary>
public static class DatasetExtensions
{
    /// <summary>Registers the dataset options, store and catalog.</summary>
    public static WebApplicationBuilder AddMaasDatasets(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<DatasetOptions>().Bind(builder.Configuration.GetSection(DatasetOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DatasetOptions>>(new DatasetOptionsValidator());
        services.AddSingleton<IDatasetStore>(sp => new SqlDatasetStore(sp.GetRequiredService<SqlRegistryStore>().Dialect));
        services.AddSingleton(sp => new DatasetCatalog(
            sp.GetRequiredService<IDatasetStore>(),
            sp.GetRequiredService<IArtifactStore>(),
            sp.GetRequiredService<IRegistryStore>(),
            sp.GetRequiredService<ModelRegistry>(),
            sp.GetRequiredService<StagingArea>(),
            sp.GetRequiredService<IOptions<DatasetOptions>>().Value,
            sp.GetService<TimeProvider>()));

        // The unfinished jobs reading a dataset, which keep it from being deleted: the job queue and handlers are the training feature's.
        services.AddSingleton(sp => new DatasetJobUses(sp.GetRequiredService<IJobQueueStore>(), sp.GetServices<IJobHandler>()));
        return builder;
    }

    /// <summary>Maps /api/v1/datasets (datasets:read for reads, datasets:write for changes).</summary>
    public static IEndpointRouteBuilder MapMaasDatasets(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").WithApiErrors().RequireReadWriteScopes([MaasScopes.DatasetsRead], [MaasScopes.DatasetsWrite]);
        api.WaitForRegistry();
        DatasetEndpoints.Map(api);
        return app;
    }

    private sealed class DatasetOptionsValidator : IValidateOptions<DatasetOptions>
    {
        public ValidateOptionsResult Validate(string? name, DatasetOptions options) =>
            options.Validate() is { Count: > 0 } errors ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }
}
