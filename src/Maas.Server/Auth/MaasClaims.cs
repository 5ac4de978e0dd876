namespace Maas.Server.Auth;

/// <summary>The claim types MaaS puts on HttpContext.User.</summary>
public static class MaasClaims
{
    /// <summary>The key id (also Identity.Name).</summary>
    public const string KeyId = "maas:key_id";

    /// <summary>The tenant.</summary>
    public const string Tenant = "maas:tenant";

    /// <summary>The key's visible prefix.</summary>
    public const string KeyPrefix = "maas:key_prefix";

    /// <summary>A granted scope (one claim each).</summary>
    public const string Scope = "maas:scope";
}
