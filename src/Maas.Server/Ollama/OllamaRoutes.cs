namespace Maas.Server.Ollama;

/// <summary>Which request paths are Ollama's native API: everything under <c>/api</c> except the management API <c>/api/v1</c>.</summary>
public static class OllamaRoutes
{
    /// <summary>True for <c>/api/chat</c>, <c>/api/tags</c> and any other <c>/api/...</c> path outside <c>/api/v1</c>.</summary>
    public static bool Owns(PathString path) =>
        path.StartsWithSegments("/api", out var rest)
        && rest.Value is { Length: > 1 }
        && !path.StartsWithSegments("/api/v1");
}
