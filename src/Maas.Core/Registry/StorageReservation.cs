namespace Maas.Core.Registry;

/// <summary>
/// The bytes an upload in progress holds of its tenant's storage quota, in the database so that every server process
/// on it sees them. Reserved before they are written: what the upload declared (a Content-Length, a resumable
/// session's size) at once, otherwise what has arrived and a step ahead of it (at most <see cref="GrowStep"/>, and at
/// most half of what the quota leaves, so one upload does not starve the others). Every grant is checked
/// against the tenant's stored bytes plus all its other reservations in one step, so finished and in-flight uploads
/// together never pass the quota. A request's reservation is renewed while its bytes arrive and dropped when it ends
/// (<see cref="DisposeAsync"/>); a crashed process's lapses after <see cref="Lifetime"/>. A resumable session's lives
/// as long as the session and is dropped with it. Without a quota nothing is reserved.
/// </summary>
public sealed class StorageReservation : IAsyncDisposable
{
    /// <summary>How far ahead of the bytes that arrived an upload of unknown length reserves.</summary>
    public const long GrowStep = 4L << 20;

    /// <summary>How long a request's reservation counts without being renewed (it is renewed as bytes arrive).</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);

    private readonly IRegistryStore? _store;
    private readonly TimeProvider _time;
    private readonly DateTimeOffset? _expiresAt;
    private readonly Func<StorageUse, RegistryException> _quotaExceeded;
    private DateTimeOffset _renewAt;
    private StorageUse _use;
    private bool _released;

    internal StorageReservation(
        IRegistryStore? store,
        TimeProvider time,
        string id,
        string tenant,
        long quota,
        DateTimeOffset? expiresAt,
        Func<StorageUse, RegistryException> quotaExceeded)
    {
        _store = store;
        _time = time;
        _expiresAt = expiresAt;
        _quotaExceeded = quotaExceeded;
        _use = new StorageUse(0, 0, null);
        Id = id;
        Tenant = tenant;
        Quota = quota;
    }

    /// <summary>The reservation's id.</summary>
    public string Id { get; }

    /// <summary>
    /// The id to hand to the store step that records the upload's bytes (they then stop counting as reserved in that
    /// same step); null when nothing is reserved (no quota).
    /// </summary>
    public string? HeldId => _store is null ? null : Id;

    /// <summary>The tenant it counts against.</summary>
    public string Tenant { get; }

    /// <summary>The tenant's storage quota; 0 when it has none (nothing is reserved then).</summary>
    public long Quota { get; }

    /// <summary>The bytes held now.</summary>
    public long Reserved { get; private set; }

    /// <summary>What the tenant held besides this reservation at its last grant or refusal.</summary>
    public StorageUse Use => _use;

    /// <summary>
    /// The most bytes the upload may have as things stood when it began: the upload limit of its kind, or less when
    /// the quota (less what the tenant stored and reserved elsewhere) or the disk's free space above its floor left
    /// less. The quota is enforced as bytes arrive too (<see cref="EnsureAsync"/>).
    /// </summary>
    public long Limit { get; internal set; } = long.MaxValue;

    /// <summary>The error for going past <see cref="Limit"/> when the quota or the disk set it (null: the upload limit did).</summary>
    public Func<RegistryException>? OverLimit { get; internal set; }

    /// <summary>The quota refusal with the counts of the last grant or refusal.</summary>
    public RegistryException QuotaExceeded() => _quotaExceeded(_use);

    /// <summary>
    /// Makes sure <paramref name="total"/> bytes are held (more, up to <see cref="GrowStep"/> ahead, unless
    /// <paramref name="exact"/>), and renews a request's reservation when due; throws the quota refusal when the
    /// tenant has no room for them.
    /// </summary>
    public async ValueTask EnsureAsync(long total, CancellationToken cancellationToken, bool exact = false)
    {
        if (_store is null)
        {
            return;
        }

        var renew = _expiresAt is null && _time.GetUtcNow() >= _renewAt;
        if (total <= Reserved && !renew)
        {
            return;
        }

        if (total <= Reserved)
        {
            total = Reserved;
            exact = true;
        }

        if (!await TryHoldAsync(total, cancellationToken, ahead: exact ? 0 : GrowStep).ConfigureAwait(false))
        {
            throw QuotaExceeded();
        }
    }

    /// <summary>
    /// Sets what is held to <paramref name="bytes"/> (and up to <paramref name="ahead"/> more, if the quota leaves
    /// twice that); false (nothing changed) when the quota has no room for them.
    /// </summary>
    internal async Task<bool> TryHoldAsync(long bytes, CancellationToken cancellationToken, IReadOnlyList<string>? replaces = null, long ahead = 0)
    {
        if (_store is null)
        {
            return true;
        }

        var now = _time.GetUtcNow();
        var use = await _store.ReserveStorageAsync(
            new StorageReservationRequest(Id, Tenant, bytes, ahead, Quota, now, _expiresAt ?? now + Lifetime, replaces ?? []),
            cancellationToken).ConfigureAwait(false);
        _use = use;
        if (use.IsGranted)
        {
            Reserved = use.Granted!.Value;
            _renewAt = now + (Lifetime / 4);
        }

        return use.IsGranted;
    }

    /// <summary>Drops the reservation: the upload finished (its bytes are counted as stored now) or failed.</summary>
    public async ValueTask ReleaseAsync()
    {
        if (_store is null || _released)
        {
            return;
        }

        _released = true;
        try
        {
            // Not the caller's token: the bytes must stop counting even when the caller hung up.
            await _store.ReleaseStorageAsync(Id, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Left behind, it lapses on its own (its expiry).
        }
    }

    /// <summary>Drops a request's reservation; a session's stays with its session (dropped when the session ends).</summary>
    public ValueTask DisposeAsync() => _expiresAt is null ? ReleaseAsync() : ValueTask.CompletedTask;
}
