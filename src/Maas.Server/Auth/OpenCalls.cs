using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Maas.Server.Auth;

/// <summary>
/// The keyed requests running now, so that a key revoked (or expired) while they run ends them: streaming gRPC calls,
/// uploads and long generations would otherwise go on for as long as the caller keeps them open. A loop re-checks
/// each open call's key every <see cref="AuthOptions.OpenCallCheckMs"/> (from the key cache, which revocation clears
/// at once on this node and within <see cref="AuthOptions.ChangePollMs"/> on the others) and aborts the calls of
/// keys that are no longer valid.
/// </summary>
public sealed class OpenCalls(ApiKeyAuthenticator keys, IOptions<AuthOptions> options, ILogger<OpenCalls> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<HttpContext, Call> _calls = new();

    /// <summary>Open calls now.</summary>
    public int Count => _calls.Count;

    /// <summary>How long a call asked to end itself (<see cref="CallRevocation"/>) may take before it is reset.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Watches <paramref name="context"/>, made with <paramref name="secret"/>, until <see cref="Remove"/>; with a
    /// <paramref name="revocation"/>, the call is asked to end itself rather than being reset.
    /// </summary>
    public void Add(HttpContext context, string secret, CallRevocation? revocation = null) => _calls[context] = new Call(secret, revocation);

    /// <summary>Stops watching a call that ended.</summary>
    public void Remove(HttpContext context) => _calls.TryRemove(context, out _);

    /// <summary>Checks every open call's key once and aborts the calls of keys no longer valid; returns how many it ended.</summary>
    public async Task<int> CheckAsync(CancellationToken cancellationToken)
    {
        var ended = 0;
        foreach (var group in _calls.ToArray().GroupBy(c => c.Value.Secret, StringComparer.Ordinal))
        {
            var (status, entry) = await keys.AuthenticateAsync(group.Key, cancellationToken);
            if (status == KeyStatus.Valid)
            {
                continue;
            }

            var reason = status switch
            {
                KeyStatus.Expired => $"the API key {entry?.Key.Prefix}... has expired",
                KeyStatus.TenantDisabled => $"the tenant '{entry?.Key.Tenant}' of the API key {entry?.Key.Prefix}... is disabled",
                _ => $"the API key {entry?.Key.Prefix}... was revoked",
            };
            foreach (var (context, call) in group)
            {
                if (call.Revocation is { } revocation)
                {
                    if (revocation.Revoke(reason))
                    {
                        ended++;
                        _ = AbortAfterGraceAsync(context, call);
                    }
                }
                else if (_calls.TryRemove(KeyValuePair.Create(context, call)))
                {
                    context.Abort();
                    ended++;
                }
            }

            logger.LogInformation("Ended {Count} open call(s) of API key {Prefix}...: it is {Status}", group.Count(), entry?.Key.Prefix ?? "(unknown)",
                status.ToString().ToLowerInvariant());
        }

        return ended;
    }

    // Resets a call that did not end itself; only that call (a context is reused for later requests of its connection).
    private async Task AbortAfterGraceAsync(HttpContext context, Call call)
    {
        await Task.Delay(Grace).ConfigureAwait(false);
        if (_calls.TryRemove(KeyValuePair.Create(context, call)))
        {
            context.Abort();
        }
    }

    private sealed record Call(string Secret, CallRevocation? Revocation)
    {
        // Identity, not value: a later request on a reused context with the same key is another call.
        public bool Equals(Call? other) => ReferenceEquals(this, other);

        public override int GetHashCode() => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(options.Value.OpenCallCheckMs));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await CheckAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Checking the keys of open calls failed ({Message}); trying again", e.Message);
            }
        }
    }
}
