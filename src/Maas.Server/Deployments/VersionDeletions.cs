namespace Maas.Server.Deployments;

/// <summary>
/// Hands the registry's "a version is being deleted" (and "was deleted") from <see cref="DeployedVersionUseCheck"/> to the one handler that moves
/// deployments off it (<see cref="DeploymentService"/>, which attaches itself when it is built). The check is built with
/// the registry and the service with the registry's readers, so neither can take the other: this seam sits between them.
/// The service is built when the host starts (the analysis loop, a hosted service, takes it), before any request or job
/// can delete a version.
/// </summary>
public sealed class VersionDeletions
{
    private Func<string, int, CancellationToken, Task>? _handler;

    /// <summary>Sets the handler; a second one is refused (one service per server moves deployments off).</summary>
    internal void Attach(Func<string, int, CancellationToken, Task> handler)
    {
        if (Interlocked.CompareExchange(ref _handler, handler, null) is not null)
        {
            throw new InvalidOperationException("A handler of deleted versions is already attached.");
        }
    }

    /// <summary>Moves every deployment off <paramref name="version"/> of <paramref name="model"/> (a model key) through the handler; nothing when none is attached.</summary>
    internal Task MoveOffAsync(string model, int version, CancellationToken cancellationToken) =>
        Volatile.Read(ref _handler)?.Invoke(model, version, cancellationToken) ?? Task.CompletedTask;
}
