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

    /// <summary>Null when the next message may run, else why not (a revoked key, a rate limit or budget with its value).</summary>
    public async ValueTask<string?> AdmitAsync(CancellationToken cancellationToken) =>
        (await _pipeline.AdmitMessageAsync(this, cancellationToken))?.Message;
}
