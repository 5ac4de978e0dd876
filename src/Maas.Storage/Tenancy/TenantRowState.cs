namespace Maas.Storage.Tenancy;

/// <summary>What a tenant's row says when something is about to be added for the tenant.</summary>
public enum TenantRowState
{
    /// <summary>No row: tenancy never recorded the name (the server checks names it must know before this).</summary>
    Missing,

    /// <summary>A live tenant.</summary>
    Active,

    /// <summary>A suspended tenant.</summary>
    Disabled,

    /// <summary>A deleted tenant (its row stays for its usage and audit history).</summary>
    Deleted,
}
