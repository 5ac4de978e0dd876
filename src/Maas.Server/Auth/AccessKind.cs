namespace Maas.Server.Auth;

/// <summary>What a route needs: nothing (health probes), one of some scopes, or it declared nothing (refused).</summary>
public enum AccessKind
{
    /// <summary>A health probe: no key.</summary>
    Anonymous,

    /// <summary>A key with one of the required scopes.</summary>
    Scoped,

    /// <summary>The route declares no scope: refused, and the route-enumeration test fails.</summary>
    Undeclared,
}
