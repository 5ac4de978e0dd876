namespace Maas.Server.Auth;

/// <summary>Endpoint metadata: no key needed (health probes only).</summary>
public sealed class AnonymousProbe
{
    /// <summary>The one instance.</summary>
    public static AnonymousProbe Instance { get; } = new();
}
