using Dapper;
using Maas.Storage.Sql;
using Maas.Storage.Tests.Support;

namespace Maas.Storage.Tests;

/// <summary>Several SQLite databases in one process (test servers, a server and its tools): closing one leaves the others alone.</summary>
public sealed class SqlitePoolTests
{
    [Fact]
    public async Task Disposing_one_database_never_breaks_connections_another_is_opening()
    {
        using var folder = new TempFolder();
        await using var busy = SqliteDialect.ForFile(Path.Combine(folder.Path, "busy.db"));
        var stop = new CancellationTokenSource();

        // Another database opened and disposed over and over, as servers of other tests start and stop.
        var churn = Task.Run(async () =>
        {
            await using (var other = SqliteDialect.ForFile(Path.Combine(folder.Path, "other.db")))
            {
                await using var connection = await other.OpenAsync(CancellationToken.None);
                await connection.ExecuteScalarAsync<long>("SELECT 1");
            }

            while (!stop.IsCancellationRequested)
            {
                await SqliteDialect.ForFile(Path.Combine(folder.Path, "other.db")).DisposeAsync();
            }
        });

        try
        {
            // Opened from the pool at the same time, by several callers: a dispose that cleared every pool handed some
            // of these out already disposed.
            await Task.WhenAll(Enumerable.Range(0, 8).Select(caller => Task.Run(async () =>
            {
                for (var i = 0; i < 10000; i++)
                {
                    await using var connection = await busy.OpenAsync(CancellationToken.None);
                    await Task.Yield();
                    Assert.Equal(i, await connection.ExecuteScalarAsync<long>("SELECT @I", new { I = i }));
                }
            })));
        }
        finally
        {
            await stop.CancelAsync();
            await churn;
            stop.Dispose();
        }
    }
}
