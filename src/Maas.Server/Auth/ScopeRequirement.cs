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
