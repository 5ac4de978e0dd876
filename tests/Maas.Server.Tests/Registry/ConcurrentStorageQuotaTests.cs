using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Core.Tenancy;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.Tenancy;
using Maas.Storage.Sql;
using Maas.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Maas.Server.Tests.Registry;

/// <summary>
/// Uploads of one tenant running at once, on two servers sharing one database: what each has declared or written is
/// reserved, so together they never pass the tenant's storage quota; resumable chunks are held to it too.
/// </summary>
public sealed class ConcurrentStorageQuotaTests
{
    public static TheoryData<string, bool> Kinds => new()
    {
        { "model", true },
        { "model", false },
        { "dataset", true },
        { "dataset", false },
        { "file", true },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public Task Uploads_started_together_never_take_the_tenant_past_its_quota_even_across_servers(string kind, bool declared) =>
        UploadTogetherAsync(kind, declared, null);

    // PostgreSQL serialises a tenant's reservations with an advisory lock (SQLite with its one writer): every kind, on it.
    [Theory]
    [OnPostgres]
    public async Task Uploads_started_together_never_take_the_tenant_past_its_quota_on_PostgreSQL_either(Db db)
    {
        foreach (var row in Kinds)
        {
            await using var database = await TestDatabase.CreateAsync(db);
            await UploadTogetherAsync((string)row[0], (bool)row[1], database);
        }
    }

    private static async Task UploadTogetherAsync(string kind, bool declared, TestDatabase? database)
    {
        var bodies = Enumerable.Range(0, 3).Select(i => Body(kind, i)).ToArray();
        var sizes = bodies.Select(b => (long)b.Length).Order().ToArray();
        var quota = sizes[1] + sizes[2] + (sizes[0] / 2); // any two fit, all three do not
        var settings = new Dictionary<string, string?> { ["Maas:Registry:TenantStorageQuotaBytes"] = quota.ToString(CultureInfo.InvariantCulture) };
        await using var first = await TenancyHost.StartAsync(settings, database);
        await using var second = await TenancyHost.StartAsync(settings, database, dataDir: first.Server.DataDir); // another server on the same database
        var (_, key) = await first.CreateKeyAsync(await first.CreateTenantAsync(),
            [MaasScopes.ModelsWrite, MaasScopes.ModelsRead, MaasScopes.DatasetsWrite, MaasScopes.DatasetsRead, MaasScopes.TrainingWrite, MaasScopes.TrainingRead]);
        using var onFirst = first.Client(key);
        using var uploadToFirst = Uploader(first, key);
        using var uploadToSecond = Uploader(second, key);

        var target = kind switch
        {
            "model" => $"api/v1/models/{await onFirst.CreateModelAsync()}/versions",
            "dataset" => await DatasetAsync(onFirst),
            _ => "v1/files",
        };

        // Each body is sent only once its server has checked the quota and starts reading it (Expect: 100-continue), and
        // stops halfway until every upload has either begun so or been refused: all are in flight at once.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = bodies.Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var contents = new List<HttpContent>();
        for (var i = 0; i < bodies.Length; i++)
        {
            contents.Add(await GatedAsync(kind, bodies[i], i, declared, started[i], gate.Task));
        }

        var uploads = contents.Select((content, i) => (i == 1 ? uploadToSecond : uploadToFirst).PostAsync(target, content)).ToArray();
        await Task.WhenAll(started.Select((s, i) => Task.WhenAny(s.Task, uploads[i]))).WaitAsync(TimeSpan.FromSeconds(60));
        gate.SetResult();
        var responses = await Task.WhenAll(uploads).WaitAsync(TimeSpan.FromSeconds(120));

        var stored = 0L;
        var refused = 0;
        for (var i = 0; i < responses.Length; i++)
        {
            using var response = responses[i];
            if (response.IsSuccessStatusCode)
            {
                stored += bodies[i].Length;
                continue;
            }

            refused++;
            var error = kind == "file"
                ? await OpenAiQuotaErrorAsync(response)
                : await response.ErrorAsync(HttpStatusCode.InsufficientStorage, "storage_quota_exceeded");
            Assert.Equal(quota, (long?)error["limit_bytes"]);
            Assert.True((long?)error["used_bytes"] <= quota, error.ToJsonString());
        }

        Assert.True(stored <= quota, $"{stored} bytes stored past the quota of {quota}");
        Assert.InRange(refused, 1, declared ? 1 : 2); // a declared size is reserved whole: exactly one is refused
        Assert.Equal(0, await ReservationsAsync(first)); // nothing stays reserved once the uploads ended
    }

    [Fact]
    public async Task Resumable_sessions_hold_their_declared_size_and_their_chunks_are_held_to_the_quota()
    {
        var onnx = TestArtifacts.Onnx(seed: 71);
        var size = onnx.Length;
        var quota = (size * 2) + (size / 2);
        await using var host = await TenancyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Maas:Registry:TenantStorageQuotaBytes"] = quota.ToString(CultureInfo.InvariantCulture),
        });
        var (_, _, writer) = await host.TenantWithKeyAsync(MaasScopes.ModelsWrite, MaasScopes.ModelsRead);
        using (writer)
        {
            var model = await writer.CreateModelAsync();
            async Task<HttpResponseMessage> OpenAsync(long? declaredSize) =>
                await writer.PostAsync($"api/v1/models/{model}/uploads",
                Api.Json(declaredSize is { } s ? $$"""{"filename": "model.onnx", "size": {{s}}}""" : """{"filename": "model.onnx"}"""));
            async Task<string> OpenedAsync(long? declaredSize)
            {
                using var opened = await OpenAsync(declaredSize);
                return (string)(await opened.JsonAsync(HttpStatusCode.Created))["id"]!;
            }

            async Task<HttpResponseMessage> ChunkAsync(string id, long offset, byte[] bytes)
            {
                using var chunk = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/uploads/{id}") { Content = new ByteArrayContent(bytes) };
                chunk.Headers.Add("Upload-Offset", offset.ToString(CultureInfo.InvariantCulture));
                return await writer.SendAsync(chunk);
            }

            // A declared size is held from the open: two sessions of one version each leave no room for a third.
            var declared = await OpenedAsync(size);
            var undeclared = await OpenedAsync(null);
            using (var chunk = await ChunkAsync(undeclared, 0, onnx))
            {
                Assert.Equal(HttpStatusCode.NoContent, chunk.StatusCode);
            }

            using (var third = await OpenAsync(size))
            {
                var error = await third.ErrorAsync(HttpStatusCode.InsufficientStorage, "storage_quota_exceeded");
                Assert.Equal(quota, (long?)error["limit_bytes"]);
                Assert.Equal(size * 2, (long?)error["used_bytes"]);
                Assert.Contains("its models, datasets and files hold 0 bytes and its other uploads in progress reserve", (string?)error["message"], StringComparison.Ordinal);
            }

            // A session without a size: each chunk is held to what is left, and a refused one leaves nothing behind.
            var open = await OpenedAsync(null);
            using (var past = await ChunkAsync(open, 0, onnx))
            {
                var error = await past.ErrorAsync(HttpStatusCode.InsufficientStorage, "storage_quota_exceeded");
                Assert.Equal(size * 2, (long?)error["used_bytes"]);
            }

            var within = onnx.AsSpan(0, size / 4).ToArray();
            using (var fits = await ChunkAsync(open, 0, within))
            {
                Assert.Equal(HttpStatusCode.NoContent, fits.StatusCode);
            }

            using (var next = await ChunkAsync(open, within.Length, onnx.AsSpan(0, size / 2).ToArray()))
            {
                await next.ErrorAsync(HttpStatusCode.InsufficientStorage, "storage_quota_exceeded");
            }

            using (var state = await writer.GetAsync($"api/v1/uploads/{open}"))
            {
                Assert.Equal(within.Length, (long?)(await state.JsonAsync(HttpStatusCode.OK))["offset"]);
            }

            // A declared session is held to its size per chunk as well.
            using (var sent = await ChunkAsync(declared, 0, TestArtifacts.Onnx(seed: 72)))
            {
                Assert.Equal(HttpStatusCode.NoContent, sent.StatusCode);
            }

            using (var beyond = await ChunkAsync(declared, size, [1]))
            {
                await beyond.ErrorAsync(HttpStatusCode.BadRequest, "upload_length_exceeded");
            }

            // Dropping a session gives its bytes back; completing one turns its reservation into the version's bytes.
            using (var dropped = await writer.DeleteAsync($"api/v1/uploads/{open}"))
            {
                Assert.True(dropped.IsSuccessStatusCode, await dropped.Content.ReadAsStringAsync());
            }

            using (var completed = await writer.PostAsync($"api/v1/uploads/{undeclared}/complete", Api.Json("{}")))
            {
                await completed.JsonAsync(HttpStatusCode.Created);
            }

            // A completion refused after it took the session's bytes over (its version number is taken): they count again.
            using (var taken = await writer.PostAsync($"api/v1/uploads/{declared}/complete", Api.Json("""{"version": 1}""")))
            {
                Assert.True(taken.StatusCode == HttpStatusCode.Conflict, $"{(int)taken.StatusCode}: {await taken.Content.ReadAsStringAsync()}\n{host.Errors()}");
            }

            using (var still = await OpenAsync(size))
            {
                var error = await still.ErrorAsync(HttpStatusCode.InsufficientStorage, "storage_quota_exceeded");
                Assert.Equal(size * 2, (long?)error["used_bytes"]);
            }

            using (var completed = await writer.PostAsync($"api/v1/uploads/{declared}/complete", Api.Json("{}")))
            {
                await completed.JsonAsync(HttpStatusCode.Created);
            }

            Assert.Equal(0, await ReservationsAsync(host));
            using (var full = await OpenAsync(size))
            {
                var error = await full.ErrorAsync(HttpStatusCode.InsufficientStorage, "storage_quota_exceeded");
                Assert.Equal(size * 2, (long?)error["used_bytes"]);
                Assert.Contains($"its models, datasets and files hold {size * 2} bytes", (string?)error["message"], StringComparison.Ordinal);
            }
        }
    }

    // A client that sends a body only when the server asks for it (100 Continue: it has begun to read it), however long that takes.
    private static HttpClient Uploader(TenancyHost host, string key)
    {
        var client = new HttpClient(new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = host.Server.BaseAddress,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        client.DefaultRequestHeaders.ExpectContinue = true;
        return client;
    }

    private static async Task<long> ReservationsAsync(TenancyHost host)
    {
        var store = host.Server.Services.GetRequiredService<SqlRegistryStore>();
        await using var connection = await store.Dialect.OpenAsync(CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM storage_reservations";
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private static async Task<string> DatasetAsync(HttpClient client)
    {
        var name = Names.Unique("ds");
        await (await client.PostAsync("api/v1/datasets", Api.Json($$"""{"name": "{{name}}"}"""))).JsonAsync(HttpStatusCode.Created);
        return $"api/v1/datasets/{name}/versions";
    }

    private static async Task<JsonNode> OpenAiQuotaErrorAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.TooManyRequests, $"expected 429, got {(int)response.StatusCode}: {text}");
        var error = JsonNode.Parse(text)!["error"]!;
        Assert.Equal("insufficient_quota", (string?)error["type"]);
        Assert.Equal("storage_quota_exceeded", (string?)error["code"]);
        return error;
    }

    // Three different bodies of a kind, of about the same size.
    private static byte[] Body(string kind, int i) => kind switch
    {
        "model" => TestArtifacts.Onnx(seed: 60 + i),
        "dataset" => Text(n => $"{n},{(n % 2 == 0 ? "even" : "odd")}\n", "x,label\n", 6000, i),
        _ => Text(n => $$"""{"messages": [{"role": "user", "content": "q {{n}}"}, {"role": "assistant", "content": "a {{n}}"}]}""" + "\n", "", 6000, i),
    };

    private static byte[] Text(Func<int, string> line, string header, int bytes, int seed)
    {
        var text = new StringBuilder(header);
        for (var n = seed * 100_000; text.Length < bytes; n++)
        {
            text.Append(line(n));
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    // The body an upload of the kind sends, held halfway until the gate opens.
    private static async Task<HttpContent> GatedAsync(string kind, byte[] body, int i, bool declared, TaskCompletionSource started, Task gate)
    {
        if (kind == "file")
        {
            using var form = new MultipartFormDataContent { { new StringContent("fine-tune"), "purpose" } };
            form.Add(new ByteArrayContent(body), "file", $"chats{i}.jsonl");
            var content = new GatedContent(await form.ReadAsByteArrayAsync(), declared, started, gate);
            content.Headers.ContentType = form.Headers.ContentType;
            return content;
        }

        var raw = new GatedContent(body, declared, started, gate);
        raw.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        raw.Headers.Add("X-Maas-Filename", kind == "model" ? "model.onnx" : "data.csv");
        return raw;
    }

    // Sends the first half, says so, waits for the gate, then sends the rest; chunked when the size is not declared.
    private sealed class GatedContent(byte[] bytes, bool declared, TaskCompletionSource started, Task gate) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            var half = bytes.Length / 2;
            await stream.WriteAsync(bytes.AsMemory(0, half));
            await stream.FlushAsync();
            started.TrySetResult();
            await gate;
            await stream.WriteAsync(bytes.AsMemory(half));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = bytes.Length;
            return declared;
        }
    }
}
