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

    [Fact]
    public async Task A_pooled_handle_left_inside_a_transaction_is_rolled_back_and_served_as_a_fresh_one()
    {
        using var folder = new TempFolder();
        await using var database = SqliteDialect.ForFile(Path.Combine(folder.Path, "left.db"));
        await using (var setup = await database.OpenAsync(CancellationToken.None))
        {
            await setup.ExecuteAsync("CREATE TABLE t (x INTEGER)");
        }

        // A transaction begun in SQL and never ended: the connection goes back to the pool with it open.
        await using (var leaving = await database.OpenAsync(CancellationToken.None))
        {
            await leaving.ExecuteAsync("BEGIN; INSERT INTO t VALUES (1)");
        }

        // The next caller gets the handle set up (its pragmas ran), outside any transaction, without the abandoned row.
        await using var next = await database.OpenAsync(CancellationToken.None);
        Assert.Equal(1, await next.ExecuteScalarAsync<long>("PRAGMA synchronous")); // NORMAL
        Assert.Equal(0, await next.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM t"));
        await next.ExecuteAsync("BEGIN; INSERT INTO t VALUES (2); COMMIT");
        Assert.Equal(1, await next.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM t"));
    }
}
