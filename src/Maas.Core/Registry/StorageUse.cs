namespace Maas.Core.Registry;

/// <summary>
/// What a tenant holds besides one reservation (its stored bytes, the bytes its other uploads in progress reserved),
/// and what that reservation was granted (null when refused).
/// </summary>
public sealed record StorageUse(long Stored, long Reserved, long? Granted)
{
    /// <summary>Whether the reservation was granted.</summary>
    public bool IsGranted => Granted is not null;
}
