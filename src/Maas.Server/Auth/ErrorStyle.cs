namespace Maas.Server.Auth;

/// <summary>The error body a route's callers expect: each protocol has its own.</summary>
public enum ErrorStyle
{
    /// <summary>The management API: <c>{"error": {"code", "message", ...}}</c>.</summary>
    Management,

    /// <summary>OpenAI: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
    OpenAi,

    /// <summary>Open Inference Protocol v2 REST: <c>{"error": "message"}</c>.</summary>
    Oip,

    /// <summary>Ollama's native API (<c>/api/chat</c>, <c>/api/tags</c>, ...): <c>{"error": "message"}</c>.</summary>
    Ollama,

    /// <summary>gRPC: a grpc-status and grpc-message, no body.</summary>
    Grpc,
}
