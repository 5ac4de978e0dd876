using System.Net;
using Maas.Server.Tests.Support;
using Maas.Testing;
using Parquet;
using Parquet.Schema;

namespace Maas.Server.Tests.Datasets;

/// <summary>
/// Parquet timestamps as rows show them: one adjusted to UTC (isAdjustedToUTC, the legacy TIMESTAMP_MILLIS and INT96,
/// both UTC by the format's convention) was shown without a zone, so a reader could not tell it from a local one.
/// </summary>
public sealed class ParquetTimestampTests(ServerPerDb servers) : IClassFixture<ServerPerDb>
{
    private static readonly DateTime Moment = new(2026, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc);

    [Fact]
    public async Task Utc_timestamps_preview_with_a_z_and_local_ones_without_a_zone()
    {
        var utc = new DateTimeDataField("utc", DateTimeFormat.Timestamp, isAdjustedToUTC: true);
        var local = new DateTimeDataField("local", DateTimeFormat.Timestamp, isAdjustedToUTC: false);
        var int96 = new DateTimeDataField("int96", DateTimeFormat.Impala);
        var millis = new DateTimeDataField("millis", DateTimeFormat.DateAndTime);
        var date = new DateTimeDataField("date", DateTimeFormat.Date);
        var optional = new DateTimeDataField("optional", DateTimeFormat.Timestamp, isAdjustedToUTC: true, isNullable: true);
        using var output = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(utc, local, int96, millis, date, optional), output))
        {
            using var group = writer.CreateRowGroup();
            DateTime[] moments = [Moment, Moment.AddHours(13)];
            foreach (var field in new[] { utc, local, int96, millis })
            {
                await group.WriteAsync<DateTime>(field, moments.AsMemory());
            }

            await group.WriteAsync<DateTime>(date, moments.Select(m => m.Date).ToArray().AsMemory());
            await group.WriteAsync<DateTime>(optional, new DateTime?[] { null, Moment }.AsMemory());
        }

        var client = (await servers.GetAsync(Db.Sqlite)).Client;
        var name = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        var version = await (await client.PostAsync($"api/v1/datasets/{name}/versions",
            MaasTestServer.Artifact(output.ToArray(), "times.parquet"))).JsonAsync(HttpStatusCode.Created);
        Assert.Equal(2, (int)version["rows"]!);

        var rows = (await (await client.GetAsync($"api/v1/datasets/{name}/versions/1/preview")).JsonAsync(HttpStatusCode.OK))["rows"]!.AsArray();
        foreach (var column in new[] { "utc", "int96", "millis" })
        {
            Assert.Equal(["2026-01-02T03:04:05.6780000Z", "2026-01-02T16:04:05.6780000Z"], rows.Select(r => (string?)r![column]));
        }

        // The wall-clock time as written, with no zone: not the server's, not UTC; a date has no zone either.
        Assert.Equal(["2026-01-02T03:04:05.6780000", "2026-01-02T16:04:05.6780000"], rows.Select(r => (string?)r!["local"]));
        Assert.Equal(["2026-01-02T00:00:00.0000000", "2026-01-02T00:00:00.0000000"], rows.Select(r => (string?)r!["date"]));
        Assert.Equal([null, "2026-01-02T03:04:05.6780000Z"], rows.Select(r => (string?)r!["optional"]));
    }
}
