using Maas.Core.Tenancy;

namespace Maas.Server.Auth;

/// <summary>
/// What a streaming gRPC call needs to admit each message after the first: the call's key and counters. The auth
/// gate sets it as a request feature; <see cref="AdmitAsync"/> re-checks the key and the limits per message.
/// </summary>
public sealed class StreamAdmission
{
    private readonly AuthPipeline _pipeline;

    internal StreamAdmission(AuthPipeline pipeline, string secret, LimitCounters? keyCounters, UsageLimits keyLimits, LimitCounters tenantCounters, UsageLimits tenantLimits)
    {
        _pipeline = pipeline;
        Secret = secret;
        KeyCounters = keyCounters;
        KeyLimits = keyLimits;
        TenantCounters = tenantCounters;
        TenantLimits = tenantLimits;
    }

    internal string Secret { get; }

    internal LimitCounters? KeyCounters { get; }

    internal UsageLimits KeyLimits { get; }

    internal LimitCounters TenantCounters { get; }

    internal UsageLimits TenantLimits { get; }

    // Compute already counted against the budgets message by message (taken back out when the call's record is counted).
    internal double ChargedMs { get; private set; }

    /// <summary>
    /// Counts one message's compute against the key's and tenant's budgets now, so that the next message of the
    /// same stream is checked against it (the call's usage record, written when it ends, carries the total).
    /// </summary>
    public void Charge(TimeSpan compute)
    {
        var ms = compute.TotalMilliseconds;
        if (ms > 0)
        {
            _pipeline.ChargeMessage(this, ms);
            ChargedMs += ms;
        }
    }

    /// <summary>Null when the next message may run, else why not (a revoked key, a rate limit or budget with its value).</summary>
    public async ValueTask<string?> AdmitAsync(CancellationToken cancellationToken) =>
        (await _pipeline.AdmitMessageAsync(this, cancellationToken))?.Message;
}
