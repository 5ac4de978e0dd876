namespace Maas.Core.Registry;

/// <summary>What <see cref="IRegistryStore.ReserveStorageAsync"/> is asked for.</summary>
/// <param name="Id">The reservation's id: an upload session's id, or a random one for one request's upload.</param>
/// <param name="Owner">The tenant whose quota it counts against.</param>
/// <param name="Bytes">The bytes it needs (replacing what it held).</param>
/// <param name="Ahead">How many more it would like, to ask less often: granted up to half of what the quota leaves beyond <paramref name="Bytes"/>.</param>
/// <param name="Quota">The tenant's storage quota (greater than 0).</param>
/// <param name="Now">Reservations that expired by then no longer count (and are removed).</param>
/// <param name="ExpiresAt">When this one stops counting unless renewed.</param>
/// <param name="Replaces">Reservations that this one takes over (a completed session's): dropped in the same step.</param>
public sealed record StorageReservationRequest(string Id, string Owner, long Bytes, long Ahead, long Quota, DateTimeOffset Now, DateTimeOffset ExpiresAt,
    IReadOnlyList<string> Replaces);
