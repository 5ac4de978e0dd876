namespace Maas.Server.Auth;

/// <summary>Endpoint metadata: the name of the audited action, e.g. "keys.create" (default: method and route).</summary>
public sealed class AuditAction(string name)
{
    /// <summary>The action name.</summary>
    public string Name { get; } = name;
}
