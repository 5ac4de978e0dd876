namespace Maas.Server.Auth;

/// <summary>Completes once tenancy's schema and bootstrap are done; requests that arrive earlier wait for it.</summary>
public sealed class TenancyReadiness
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when keys can be checked; faults when start-up failed.</summary>
    public Task Ready => _ready.Task;

    internal void SetReady() => _ready.TrySetResult();

    internal void SetFailed(Exception e) => _ready.TrySetException(e);
}
