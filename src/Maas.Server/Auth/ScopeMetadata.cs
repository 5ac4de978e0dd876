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

/// <summary>Endpoint metadata: a public static file of the web console (no key; it holds no data, the API calls it makes do).</summary>
public sealed class PublicAsset
{
    /// <summary>The one instance.</summary>
    public static PublicAsset Instance { get; } = new();
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
