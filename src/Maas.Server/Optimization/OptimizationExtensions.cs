using Maas.Core.Datasets;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Optimization;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Registry;
using Microsoft.Extensions.Options;

namespace Maas.Server.Optimization;

/// <summary>The optimisation feature: its options, its job handler (run by the job workers) and the <c>:optimize</c> route.</summary>
public static class OptimizationExtensions
{
    /// <summary>Registers the options and the handler the workers run "optimization" jobs with.</summary>
    public static WebApplicationBuilder AddMaasOptimization(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<OptimizationOptions>().Bind(builder.Configuration.GetSection(OptimizationOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<OptimizationOptions>>(new OptionsValidator());
        services.AddSingleton<IJobHandler>(sp => new OptimizationJobHandler(sp.GetRequiredService<IModelRegistry>(), sp.GetRequiredService<DatasetCatalog>(),
            sp.GetRequiredService<IOptions<OptimizationOptions>>().Value, sp.GetService<GgufQuantizeCall>(), sp.GetService<Maas.Optimization.Onnx.OptimizationRewriteStep>()));
        return builder;
    }

    /// <summary>Maps <c>POST /api/v1/models/{name}/versions/{n}:optimize</c> (models:write on a model the caller may change).</summary>
    public static IEndpointRouteBuilder MapMaasOptimization(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").WithApiErrors().RequireReadWriteScopes([MaasScopes.ModelsRead], [MaasScopes.ModelsWrite]);
        api.WaitForRegistry();
        OptimizationEndpoints.Map(api);
        return app;
    }

    private sealed class OptionsValidator : IValidateOptions<OptimizationOptions>
    {
        public ValidateOptionsResult Validate(string? name, OptimizationOptions options) =>
            options.Validate() is { Count: > 0 } errors ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }
}
