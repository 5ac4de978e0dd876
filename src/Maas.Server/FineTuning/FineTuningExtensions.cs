using Maas.Core.FineTuning;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Server.Registry;
using Maas.Storage.FineTuning;
using Maas.Storage.Sql;
using Microsoft.Extensions.Options;

namespace Maas.Server.FineTuning;

/// <summary>The fine-tuning feature: OpenAI's <c>/v1/files</c> and <c>/v1/fine_tuning/jobs</c>, trained in the job queue's workers.</summary>
public static class FineTuningExtensions
{
    /// <summary>Registers the options (<c>Maas:FineTuning</c>), the file store and the job handler.</summary>
    public static WebApplicationBuilder AddMaasFineTuning(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<FineTuningOptions>().Bind(builder.Configuration.GetSection(FineTuningOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<FineTuningOptions>>(new OptionsValidator());
        services.AddSingleton<IFineTuningFileStore>(sp => new SqlFineTuningFileStore(sp.GetRequiredService<SqlRegistryStore>().Dialect));
        services.AddSingleton<IJobHandler>(sp => new FineTuningJobHandler(
            sp.GetRequiredService<IModelRegistry>(),
            sp.GetRequiredService<IArtifactStore>(),
            sp.GetRequiredService<IOptions<FineTuningOptions>>().Value,
            sp.GetRequiredService<ILogger<FineTuningJobHandler>>(),
            // Gives way to this process's serving like table and image training (Maas:Training:ServingShare).
            Training.TrainingExtensions.ServingYieldOf(sp)));
        return builder;
    }

    /// <summary>Maps the files and fine-tuning routes (training:read to read, training:write to upload, create, cancel, delete).</summary>
    public static IEndpointRouteBuilder MapMaasFineTuning(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").WithTags("OpenAI fine-tuning");
        var logger = app.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("Maas.FineTuning");
        v1.AddEndpointFilter((invocation, next) => OpenAiApiError.FilterAsync(invocation, next, logger));
        v1.WaitForRegistry();
        FilesEndpoints.Map(v1);
        FineTuningJobsEndpoints.Map(v1);
        return app;
    }

    private sealed class OptionsValidator : IValidateOptions<FineTuningOptions>
    {
        public ValidateOptionsResult Validate(string? name, FineTuningOptions options) =>
            options.Validate() is { Count: > 0 } errors ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }
}
