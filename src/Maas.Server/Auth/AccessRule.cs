using Maas.Core.Tenancy;

namespace Maas.Server.Auth;

/// <summary>The access rule of one endpoint, with what the auth middleware needs to know about it.</summary>
public sealed record AccessRule(AccessKind Kind, ScopeRequirement? Requirement, string? ModelRouteValue, string? AuditAction, string Protocol, string Operation)
{
    /// <summary>True when a mutating call of this route is a management action (audited).</summary>
    public bool IsManagement => Requirement?.IsManagement == true;

    /// <summary>True when the route changes a model (the caller must own it, not just see it).</summary>
    public bool WritesModel => Requirement is { } r && r.AnyOf.Contains(MaasScopes.ModelsWrite) && !r.AnyOf.Contains(MaasScopes.ModelsRead);
}
