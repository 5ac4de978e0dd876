using Maas.Core.Tenancy;

namespace Maas.Server.Auth;

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

    /// <summary>
    /// For a group: GET and HEAD routes need one of <paramref name="read"/>, every other method one of
    /// <paramref name="write"/>. A route's own <see cref="RequireScope{TBuilder}"/> still wins.
    /// </summary>
    public static TBuilder RequireReadWriteScopes<TBuilder>(this TBuilder builder, string[] read, string[] write)
        where TBuilder : IEndpointConventionBuilder
    {
        var readRequirement = new ScopeRequirement(read);
        var writeRequirement = new ScopeRequirement(write);
        builder.Add(endpoint =>
        {
            var methods = endpoint.Metadata.OfType<Microsoft.AspNetCore.Routing.HttpMethodMetadata>().LastOrDefault()?.HttpMethods ?? [];
            var readOnly = methods.Count > 0 && methods.All(m => HttpMethods.IsGet(m) || HttpMethods.IsHead(m));
            // Inserted first, so a requirement the route declares itself (added later) stays the innermost one.
            endpoint.Metadata.Insert(0, readOnly ? readRequirement : writeRequirement);
        });
        return builder;
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
