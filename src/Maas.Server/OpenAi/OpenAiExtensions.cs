using Maas.Core.Hosting;
using Maas.Core.Llm;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Microsoft.Extensions.Options;

namespace Maas.Server.OpenAi;

/// <summary>Registers and maps the OpenAI-compatible LLM API (<c>/v1/models</c>, chat, completions, embeddings).</summary>
public static class OpenAiExtensions
{
    /// <summary>Adds LLM serving: options (<c>Maas:Llm</c>), the LLM engine on the model host, and the demo LLM.</summary>
    public static WebApplicationBuilder AddMaasOpenAi(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<LlmServingOptions>()
            .Bind(builder.Configuration.GetSection(LlmServingOptions.Section))
            .PostConfigure(o =>
            {
                // One switch turns every demo off: unless set itself, the LLM demo follows the ONNX demo's setting.
                if (builder.Configuration[LlmServingOptions.Section + ":Demo"] is null)
                {
                    o.Demo = builder.Configuration.GetValue("Maas:Inference:Demo", true);
                }
            })
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<LlmServingOptions>, LlmOptionsValidator>();
        services.AddSingleton<ILlmEngineFactory, Maas.Runtimes.Llama.Serving.LlamaEngineFactory>();
        // The LLM engine plugs into the one model host; the engine manager is the OpenAI endpoints' view of it.
        services.AddSingleton<IModelEngine>(sp => new LlmModelEngine(sp.GetRequiredService<ILlmEngineFactory>()));
        services.AddSingleton<LlmEngineManager>();
        services.AddSingleton(sp => new TokenBudget(sp.GetRequiredService<IOptions<LlmServingOptions>>().Value.MaxTokensInFlight));
        services.AddSingleton<LlmModelResolver>();
        services.AddSingleton<LlmGenerationService>();
        services.AddSingleton<LlmShadowCopies>();
        services.AddSingleton<EmbeddingQueues>();
        services.AddSingleton<LlmMetrics>();
        services.AddSingleton<IHostedModelSource, LlmModelSource>();
        services.AddHostedService<LlmStartup>();
        return builder;
    }

    /// <summary>
    /// Gives an unknown <c>/v1</c> route, or a method a route lacks, OpenAI's error body instead of the framework's bare
    /// 404/405 (which OpenAI clients show as an error without a message), as OpenAI itself answers ("Invalid URL (POST /v1/x)").
    /// </summary>
    public static WebApplication UseMaasOpenAiErrors(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            await next(context);
            if (context.Response is { HasStarted: false, StatusCode: StatusCodes.Status404NotFound or StatusCodes.Status405MethodNotAllowed }
                && context.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal))
            {
                var wrongMethod = context.Response.StatusCode == StatusCodes.Status405MethodNotAllowed;
                var error = new LlmException(
                    LlmErrorKind.NotFound,
                    $"Invalid {(wrongMethod ? "method for URL" : "URL")} ({context.Request.Method} {context.Request.Path})",
                    code: wrongMethod ? "method_not_allowed" : "unknown_url");
                context.Response.ContentType = "application/json";
                await context.Response.Body.WriteAsync(OpenAiErrors.Body(error, "invalid_request_error"), context.RequestAborted);
            }
        });
        return app;
    }

    /// <summary>Maps the OpenAI routes under <c>/v1</c> and the engine statistics under <c>/api/v1/llm/engines</c>.</summary>
    public static WebApplication MapMaasOpenAi(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<Observability.ObservabilityOptions>>().Value.Metrics)
        {
            // Its gauges exist from the start, so /metrics shows "0 LLMs loaded" before the first LLM request.
            _ = app.Services.GetRequiredService<LlmMetrics>();
        }

        var v1 = app.MapGroup("/v1").WithTags("OpenAI");
        // OpenAI clients list models with the key they infer with, so either scope reads the list.
        v1.MapGet("/models", ModelsEndpoint.ListAsync).RequireScope(MaasScopes.Infer, MaasScopes.ModelsRead);
        v1.MapGet("/models/{**model}", ModelsEndpoint.GetAsync).RequireScope(MaasScopes.Infer, MaasScopes.ModelsRead);
        v1.MapPost("/chat/completions", ChatCompletionsEndpoint.HandleAsync).RequireScope(MaasScopes.Infer);
        v1.MapPost("/completions", CompletionsEndpoint.HandleAsync).RequireScope(MaasScopes.Infer);
        v1.MapPost("/embeddings", EmbeddingsEndpoint.HandleAsync).RequireScope(MaasScopes.Infer);
        app.MapGet("/api/v1/llm/engines", LlmEnginesEndpoint.List).WithTags("LLM").RequireScope(MaasScopes.Admin, MaasScopes.ModelsRead);
        return app;
    }

    private sealed class LlmOptionsValidator : IValidateOptions<LlmServingOptions>
    {
        public ValidateOptionsResult Validate(string? name, LlmServingOptions options)
        {
            var errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
