using System.Collections.Concurrent;
using Maas.Core.Tenancy;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.Options;

namespace Maas.Server.Auth;

/// <summary>Finds each endpoint's access rule from its metadata (cached per endpoint).</summary>
/// <remarks>
/// A few routes that other features map without metadata are known here by their pattern: the health probes are
/// anonymous, /metrics needs an admin key unless Maas:Auth:AnonymousMetrics is on. Anything else without a
/// <see cref="ScopeRequirement"/> is <see cref="AccessKind.Undeclared"/>: deny by default.
/// </remarks>
public sealed class EndpointAccess(IOptions<AuthOptions> options)
{
    /// <summary>Routes that are health probes: the only ones anyone may call without a key.</summary>
    public static readonly IReadOnlySet<string> ProbePatterns = new HashSet<string>(StringComparer.Ordinal)
    {
        "/health", "/health/live", "/health/ready", "/v2/health/live", "/v2/health/ready",
    };

    /// <summary>The web console's static files (the page at / and its bundles): public, like any web page's code.</summary>
    public static readonly IReadOnlySet<string> PublicAssetPatterns = new HashSet<string>(StringComparer.Ordinal)
    {
        "/", "/ui/{**file}",
    };

    private static readonly ScopeRequirement AnyKey = new(MaasScopes.All);
    private static readonly ScopeRequirement AdminOnly = new([MaasScopes.Admin]);
    private readonly ConcurrentDictionary<Endpoint, AccessRule> _rules = new();
    private readonly AccessRule _noEndpoint = new(AccessKind.Scoped, AnyKey, null, null, "api", "unmatched");

    /// <summary>The rule of <paramref name="endpoint"/> (null: no route matched, which still needs a key).</summary>
    public AccessRule Resolve(Endpoint? endpoint) => endpoint is null ? _noEndpoint : _rules.GetOrAdd(endpoint, Build);

    private AccessRule Build(Endpoint endpoint)
    {
        var pattern = (endpoint as RouteEndpoint)?.RoutePattern;
        var raw = pattern?.RawText is { } text ? "/" + text.TrimStart('/') : "";
        var protocol = ProtocolOf(raw);
        var operation = raw.Length > 0 ? raw : endpoint.DisplayName ?? "unknown";
        var audit = endpoint.Metadata.GetMetadata<AuditAction>()?.Name;
        var model = endpoint.Metadata.GetMetadata<ModelRouteValue>()?.Name ?? ModelValueOf(raw, pattern);

        // The innermost declaration wins: an endpoint's own metadata comes after its group's.
        foreach (var item in endpoint.Metadata.Reverse())
        {
            switch (item)
            {
                case AnonymousProbe or PublicAsset:
                    return new AccessRule(AccessKind.Anonymous, null, null, null, protocol, operation);
                case ScopeRequirement requirement:
                    return new AccessRule(AccessKind.Scoped, requirement, model, audit, protocol, operation);
            }
        }

        if (ProbePatterns.Contains(raw))
        {
            return new AccessRule(AccessKind.Anonymous, null, null, null, protocol, operation);
        }

        if (raw == "/metrics")
        {
            return options.Value.AnonymousMetrics
                ? new AccessRule(AccessKind.Anonymous, null, null, null, "api", operation)
                : new AccessRule(AccessKind.Scoped, AdminOnly, null, null, "api", operation);
        }

        if (endpoint is not RouteEndpoint)
        {
            // The framework's own rejections (405 for a method the route lacks): any key, then its status.
            return new AccessRule(AccessKind.Scoped, AnyKey, null, null, protocol, operation);
        }

        if (endpoint is RouteEndpoint { Order: int.MaxValue } && pattern?.Parameters.Any(p => p.IsCatchAll) == true)
        {
            // A fallback (e.g. the JSON 404 for unknown /api/v1 routes): any key, so strangers learn nothing.
            return new AccessRule(AccessKind.Scoped, AnyKey, null, null, protocol, operation);
        }

        return new AccessRule(AccessKind.Undeclared, null, null, null, protocol, operation);
    }

    /// <summary>The protocol a route speaks, for usage records: "openai", "ollama", "oip-rest", "predict" or "api".</summary>
    public static string ProtocolOf(string route) =>
        route.StartsWith("/v1/", StringComparison.Ordinal) ? "openai"
        : Ollama.OllamaRoutes.Owns(new PathString(route)) ? "ollama"
        : route.StartsWith("/v2", StringComparison.Ordinal) ? "oip-rest"
        : route.EndsWith("/predict", StringComparison.Ordinal) ? "predict"
        : "api";

    private static string? ModelValueOf(string raw, RoutePattern? pattern)
    {
        if (pattern is null)
        {
            return null;
        }

        if (pattern.GetParameter("model") is not null)
        {
            return "model";
        }

        return raw.StartsWith("/api/v1/models/{name}", StringComparison.Ordinal) ? "name" : null;
    }
}
