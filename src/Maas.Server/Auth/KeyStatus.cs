namespace Maas.Server.Auth;

/// <summary>What a presented secret turned out to be.</summary>
public enum KeyStatus
{
    /// <summary>A usable key.</summary>
    Valid,

    /// <summary>Not a key: wrong shape, or no stored key matches.</summary>
    Unknown,

    /// <summary>A key that was revoked.</summary>
    Revoked,

    /// <summary>A key past its expiry.</summary>
    Expired,

    /// <summary>A key of a tenant an admin suspended (403 until the tenant is enabled again).</summary>
    TenantDisabled,
}
