namespace Maas.Server.Auth;

/// <summary>
/// Lets a streaming gRPC call end itself with a status when its key is revoked or expires (UNAUTHENTICATED with the
/// reason), rather than being reset without one: <see cref="OpenCalls"/> cancels <see cref="Token"/>, and resets the
/// call only if it is still open after a grace period.
/// </summary>
public sealed class CallRevocation : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private string? _reason;

    /// <summary>Cancelled when the call's key is no longer valid.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>Why the call was ended (names the key's prefix and its state), or null while it may go on.</summary>
    public string? Reason => Volatile.Read(ref _reason);

    /// <summary>Ends the call with <paramref name="reason"/>; false when it was already ended or is over.</summary>
    internal bool Revoke(string reason)
    {
        if (Interlocked.CompareExchange(ref _reason, reason, null) is not null)
        {
            return false;
        }

        try
        {
            _source.Cancel();
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false; // the call ended meanwhile
        }
    }

    /// <inheritdoc />
    public void Dispose() => _source.Dispose();
}
