using Maas.Core.Tenancy;
using Maas.Server.Auth;

namespace Maas.Server.Ollama;

/// <summary>Maps Ollama's native API under <c>/api</c> (beside the management API under <c>/api/v1</c>), served by the same LLM core as /v1.</summary>
public static class OllamaExtensions
{
    /// <summary>
    /// Gives an unknown <c>/api</c> route outside <c>/api/v1</c> (Ollama's pull, push, create, copy, delete: models
    /// come from the registry here), or a method a route lacks, Ollama's error body instead of the framework's bare 404/405.
    /// </summary>
    public static WebApplication UseMaasOllamaErrors(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            await next(context);
            if (context.Response is { HasStarted: false, StatusCode: StatusCodes.Status404NotFound or StatusCodes.Status405MethodNotAllowed }
                && OllamaRoutes.Owns(context.Request.Path))
            {
                var message = context.Response.StatusCode == StatusCodes.Status405MethodNotAllowed
                    ? $"{context.Request.Method} is not allowed on {context.Request.Path}"
                    : $"no route {context.Request.Method} {context.Request.Path}: this server speaks Ollama's /api/chat, /api/generate, /api/embed, /api/embeddings, /api/tags, " +
                        $"/api/show, /api/ps and /api/version; models are managed through /api/v1 (see docs/api.md)";
                context.Response.ContentType = "application/json; charset=utf-8";
                await context.Response.Body.WriteAsync(OllamaEndpoint.ErrorBody(message), context.RequestAborted);
            }
        });
        return app;
    }

    /// <summary>Maps <c>/api/chat</c>, <c>/api/generate</c>, <c>/api/embed</c>, <c>/api/embeddings</c>, <c>/api/tags</c>, <c>/api/show</c>, <c>/api/ps</c> and
    /// <c>/api/version</c>.</summary>
    public static WebApplication MapMaasOllama(this WebApplication app)
    {
        var api = app.MapGroup("/api").WithTags("Ollama");
        api.MapPost("/chat", OllamaGenerateEndpoints.ChatAsync).RequireScope(MaasScopes.Infer);
        api.MapPost("/generate", OllamaGenerateEndpoints.GenerateAsync).RequireScope(MaasScopes.Infer);
        api.MapPost("/embed", OllamaEmbedEndpoints.EmbedAsync).RequireScope(MaasScopes.Infer);
        api.MapPost("/embeddings", OllamaEmbedEndpoints.EmbeddingsAsync).RequireScope(MaasScopes.Infer);

        // As /v1/models: clients list and inspect models with the key they infer with, so either scope reads them.
        api.MapGet("/tags", OllamaModelEndpoints.TagsAsync).RequireScope(MaasScopes.Infer, MaasScopes.ModelsRead);
        api.MapPost("/show", OllamaModelEndpoints.ShowAsync).RequireScope(MaasScopes.Infer, MaasScopes.ModelsRead);
        api.MapGet("/ps", OllamaModelEndpoints.PsAsync).RequireScope(MaasScopes.Infer, MaasScopes.ModelsRead);
        api.MapGet("/version", OllamaModelEndpoints.VersionAsync).RequireScope(MaasScopes.Infer, MaasScopes.ModelsRead);

        return app;
    }
}
