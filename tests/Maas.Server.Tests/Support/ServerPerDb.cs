using Microsoft.Extensions.Logging;

namespace Maas.Server.Tests.Support;

/// <summary>
/// A class fixture with one test server per database, started on first use and shared by the class's tests
/// (which keep apart by using unique model names).
/// </summary>
public class ServerPerDb : IAsyncLifetime
{
    private readonly Dictionary<Db, Task<MaasTestServer>> _servers = [];

    /// <summary>Settings of every server of this fixture.</summary>
    protected virtual IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>();

    /// <summary>What this fixture's servers logged (warnings and errors by default), for a failing test to show.</summary>
    public CapturedLogs Logs { get; } = new();

    /// <summary>The logged errors, one per line, for an assertion's message.</summary>
    public string Errors() => string.Join("\n", Logs.Lines.Where(l => l.Level >= LogLevel.Error).Select(l => $"{l.Category}: {l.Message}"));

    /// <summary>The server on <paramref name="db"/>.</summary>
    public Task<MaasTestServer> GetAsync(Db db)
    {
        lock (_servers)
        {
            if (!_servers.TryGetValue(db, out var server))
            {
                server = StartAsync(db);
                _servers[db] = server;
            }

            return server;
        }
    }

    private async Task<MaasTestServer> StartAsync(Db db)
    {
        var database = await TestDatabase.CreateAsync(db);
        return await MaasTestServer.StartAsync(database, Settings, configure: b => b.Logging.AddProvider(Logs), ownsDatabase: true);
    }

    /// <inheritdoc />
    public virtual Task InitializeAsync() => Task.CompletedTask;

    /// <inheritdoc />
    public virtual async Task DisposeAsync()
    {
        foreach (var server in _servers.Values)
        {
            try
            {
                await (await server).DisposeAsync();
            }
            catch (Exception e) when (e is InvalidOperationException or IOException)
            {
                // A server that failed to start has nothing to stop; its test already failed.
            }
        }
    }
}
