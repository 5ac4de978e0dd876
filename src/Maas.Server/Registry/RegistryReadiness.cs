using Maas.Core.Hosting;
using Maas.Storage.Sql;

namespace Maas.Server.Registry;

/// <summary>Readiness: the registry finished its start-up and its database answers.</summary>
internal sealed class RegistryReadiness(RegistryStartup startup, SqlRegistryStore store) : IReadinessCheck
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    public string Name => "database";

    public async Task<string?> CheckAsync(CancellationToken cancellationToken)
    {
        if (!startup.Ready.IsCompleted)
        {
            return "the registry is still migrating and recovering";
        }

        if (startup.Ready.IsFaulted)
        {
            return "the registry failed to start: " + startup.Ready.Exception?.InnerException?.Message;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            await store.PingAsync(timeout.Token);
            return null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"the {store.Dialect.Provider} database did not answer within {Timeout.TotalSeconds} s";
        }
        catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or IOException or TimeoutException)
        {
            return $"the {store.Dialect.Provider} database is unreachable: {e.Message}";
        }
    }
}
