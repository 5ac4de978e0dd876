using Maas.Server.Auth;

namespace Maas.Server.Health;

/// <summary>
/// Checks a key offered to the anonymous readiness probe, which the auth middleware does not see, under the same
/// failed-attempt limits, so that the probe cannot be used to try keys.
/// </summary>
internal sealed class ProbeKeyCheck(ApiKeyAuthenticator keys, FailedAttemptLimiter failures)
{
    /// <summary>True when the request carries a valid key (and its address is not blocked for failed attempts).</summary>
    public async Task<bool> HasValidKeyAsync(HttpContext context)
    {
        var (secret, _) = Credentials.Read(context.Request.Headers);
        var client = context.Connection.RemoteIpAddress;
        if (secret is null || failures.BlockedFor(client, secret) is not null)
        {
            return false;
        }

        try
        {
            var (status, entry) = await keys.AuthenticateAsync(secret, context.RequestAborted);
            if (status == KeyStatus.Valid && entry is not null)
            {
                failures.RecordSuccess(secret);
                return true;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The database may be the failing check: without it no key can be checked, so no details.
            return false;
        }

        failures.RecordFailure(client, secret);
        return false;
    }
}
