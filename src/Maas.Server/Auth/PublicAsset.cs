namespace Maas.Server.Auth;

/// <summary>Endpoint metadata: a public static file of the web console (no key; it holds no data, the API calls it makes do).</summary>
public sealed class PublicAsset
{
    /// <summary>The one instance.</summary>
    public static PublicAsset Instance { get; } = new();
}
