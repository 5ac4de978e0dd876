using Maas.Core.Tenancy;

namespace Maas.Server.Auth;

/// <summary>Endpoint metadata: the caller needs one of these scopes.</summary>
public sealed class ScopeRequirement(IReadOnlyList<string> anyOf)
{
    /// <summary>The scopes, any one of which is enough.</summary>
    public IReadOnlyList<string> AnyOf { get; } = anyOf;

    /// <summary>True when the route changes state on behalf of a management scope (audited).</summary>
    public bool IsManagement => AnyOf.Contains(MaasScopes.Admin) || AnyOf.Contains(MaasScopes.ModelsWrite);

    /// <inheritdoc />
    public override string ToString() => string.Join(" or ", AnyOf);
}

/// <summary>Endpoint metadata: no key needed (health probes only).</summary>
public sealed class AnonymousProbe
{
    /// <summary>The one instance.</summary>
    public static AnonymousProbe Instance { get; } = new();
}

/// <summary>Endpoint metadata: the route value that names the model the route acts on (checked for tenant visibility).</summary>
public sealed class ModelRouteValue(string name)
{
    /// <summary>The route value's name.</summary>
    public string Name { get; } = name;
}

/// <summary>Endpoint metadata: the name of the audited action, e.g. "keys.create" (default: method and route).</summary>
public sealed class AuditAction(string name)
{
    /// <summary>The action name.</summary>
    public string Name { get; } = name;
}

/// <summary>How routes declare what they need: <c>group.RequireScope(MaasScopes.Infer)</c>.</summary>
public static class ScopeEndpointExtensions
{
    /// <summary>The caller needs one of <paramref name="anyOf"/>; the innermost declaration wins (an endpoint over its group).</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, params string[] anyOf)
        where TBuilder : IEndpointConventionBuilder
    {
        if (anyOf.Length == 0 || anyOf.Any(s => !MaasScopes.IsKnown(s)))
        {
            throw new ArgumentException($"unknown scope in [{string.Join(", ", anyOf)}]; use MaasScopes", nameof(anyOf));
        }

        return builder.WithMetadata(new ScopeRequirement(anyOf));
    }

    /// <summary>Any valid key will do (any scope).</summary>
    public static TBuilder RequireAnyKey<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ScopeRequirement(MaasScopes.All));

    /// <summary>No key needed: only for health probes.</summary>
    public static TBuilder AllowAnonymousProbe<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(AnonymousProbe.Instance);

    /// <summary>The route value <paramref name="name"/> names a model: callers that cannot see it get 404 before the handler runs.</summary>
    public static TBuilder WithModelRouteValue<TBuilder>(this TBuilder builder, string name = "model")
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ModelRouteValue(name));

    /// <summary>Names the action in the audit log.</summary>
    public static TBuilder WithAuditAction<TBuilder>(this TBuilder builder, string action)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AuditAction(action));
}
