using System.Net;
using System.Net.Http.Headers;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Registry;

/// <summary>Resumable uploads over HTTP: chunks at offsets, a broken connection resumed, completion into a version.</summary>
public sealed class UploadSessionTests(ServerPerDb servers) : IClassFixture<ServerPerDb>
{
    private static async Task<string> CreateSessionAsync(HttpClient client, string model, string fileName, long? size = null, string? sha = null)
    {
        var sizeField = size is null ? "" : $", \"size\": {size}";
        var shaField = sha is null ? "" : $", \"sha256\": \"{sha}\"";
        using var response = await client.PostAsync($"api/v1/models/{model}/uploads", Api.Json($$"""{"filename": "{{fileName}}"{{sizeField}}{{shaField}}}"""));
        var session = await response.JsonAsync(HttpStatusCode.Created);
        Assert.Equal(0, (long)session["offset"]!);
        Assert.Equal("0", response.Headers.GetValues("Upload-Offset").Single());
        Assert.Equal($"/api/v1/uploads/{session["id"]}", response.Headers.Location?.ToString());
        return (string)session["id"]!;
    }

    private static async Task<HttpResponseMessage> PatchAsync(HttpClient client, string id, long offset, HttpContent chunk)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/uploads/{id}") { Content = chunk };
        request.Headers.Add("Upload-Offset", offset.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return await client.SendAsync(request);
    }

    private static async Task<long> OffsetAsync(HttpClient client, string id)
    {
        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"api/v1/uploads/{id}"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        return long.Parse(head.Headers.GetValues("Upload-Offset").Single(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_file_arrives_in_chunks_at_offsets_and_completes_into_a_version(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync();
        var gguf = TestArtifacts.Gguf(seed: 21);
        var id = await CreateSessionAsync(client, name, "chunked.gguf", gguf.Length, TestArtifacts.Sha256(gguf));
        var third = gguf.Length / 3;

        using (var first = await PatchAsync(client, id, 0, new ByteArrayContent(gguf[..third])))
        {
            Assert.Equal(HttpStatusCode.NoContent, first.StatusCode);
            Assert.Equal(third.ToString(System.Globalization.CultureInfo.InvariantCulture), first.Headers.GetValues("Upload-Offset").Single());
        }

        using (var wrong = await PatchAsync(client, id, 0, new ByteArrayContent(gguf[..third])))
        {
            var error = await wrong.ErrorAsync(HttpStatusCode.Conflict, "offset_mismatch");
            Assert.Equal(third, (long)error["offset"]!);
        }

        // The second chunk by PUT with Content-Range, as S3-style clients send it.
        var second = new ByteArrayContent(gguf[third..(2 * third)]);
        second.Headers.ContentRange = new ContentRangeHeaderValue(third, (2 * third) - 1, gguf.Length);
        using (var put = await client.PutAsync($"api/v1/uploads/{id}", second))
        {
            Assert.Equal(2 * third, (long)(await put.JsonAsync(HttpStatusCode.OK))["offset"]!);
        }

        // ?offset= is a 64-bit offset like Content-Range's: past 2 GiB it is an offset the session is not at (it was 400
        // "out of range (at most 2147483647)"), and one below 0 is not an offset at all.
        using (var far = await client.PutAsync($"api/v1/uploads/{id}?offset=3000000000", new ByteArrayContent(gguf[..16])))
        {
            Assert.Equal(2 * third, (long)(await far.ErrorAsync(HttpStatusCode.Conflict, "offset_mismatch"))["offset"]!);
        }

        foreach (var bad in new[] { "-1", "12x", "99999999999999999999" })
        {
            using var refused = await client.PutAsync($"api/v1/uploads/{id}?offset={bad}", new ByteArrayContent(gguf[..16]));
            await refused.ErrorAsync(HttpStatusCode.BadRequest, "invalid_offset");
        }

        using (var early = await client.PostAsync($"api/v1/uploads/{id}/complete", Api.Json("{}")))
        {
            await early.ErrorAsync(HttpStatusCode.Conflict, "upload_incomplete");
        }

        using (var tooFar = await PatchAsync(client, id, 2 * third, new ByteArrayContent(new byte[gguf.Length])))
        {
            await tooFar.ErrorAsync(HttpStatusCode.BadRequest, "upload_length_exceeded");
        }

        Assert.Equal(2 * third, await OffsetAsync(client, id));
        using (var last = await PatchAsync(client, id, 2 * third, new ByteArrayContent(gguf[(2 * third)..])))
        {
            Assert.Equal(HttpStatusCode.NoContent, last.StatusCode);
        }

        using (var shown = await client.GetAsync($"api/v1/uploads/{id}"))
        {
            var session = await shown.JsonAsync(HttpStatusCode.OK);
            Assert.Equal(gguf.Length, (long)session["offset"]!);
            Assert.Equal(gguf.Length, (long)session["size"]!);
        }

        using var completed = await client.PostAsync($"api/v1/uploads/{id}/complete", Api.Json("""{"metadata": {"via": "resumable"}}"""));
        var version = await completed.JsonAsync(HttpStatusCode.Created);
        Assert.Equal(TestArtifacts.Sha256(gguf), (string?)version["sha256"]);
        Assert.Equal("chunked.gguf", (string?)version["file_name"]);
        Assert.Equal("resumable", (string?)version["metadata"]!["via"]);
        using var download = await client.GetAsync((string)version["artifact_url"]!);
        Assert.Equal(gguf, await download.Content.ReadAsByteArrayAsync());

        using var used = await client.GetAsync($"api/v1/uploads/{id}");
        await used.ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task A_broken_chunk_keeps_what_arrived_and_the_upload_resumes_from_there(Db db)
    {
        var server = await servers.GetAsync(db);
        var client = server.Client;
        var name = await client.CreateModelAsync();
        var gguf = TestArtifacts.Gguf(seed: 22);
        var id = await CreateSessionAsync(client, name, "resumed.gguf");

        // The connection dies after part of the chunk reached the server.
        using (var breaking = server.CreateClient())
        {
            var failing = new FailingStream(gguf, failAfter: gguf.Length / 2);
            var patch = PatchAsync(breaking, id, 0, new StreamContent(failing));
            await Conditions.WaitUntilAsync(async () => await OffsetAsync(client, id) != 0, "some bytes of the chunk reach the server");

            failing.Break();
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => patch);
        }

        // The server keeps whatever reached it; ask where to go on from (it may still be noticing the broken
        // connection: while it does, the upload answers upload_busy).
        await Conditions.WaitUntilAsync(
            async () =>
            {
                var offset = await OffsetAsync(client, id);
                Assert.InRange(offset, 1, gguf.Length / 2);
                using var rest = await PatchAsync(client, id, offset, new ByteArrayContent(gguf[(int)offset..]));
                if (rest.StatusCode == HttpStatusCode.NoContent)
                {
                    return true;
                }

                var body = await rest.Content.ReadAsStringAsync();
                Assert.True(rest.StatusCode == HttpStatusCode.Conflict &&
                    (body.Contains("upload_busy", StringComparison.Ordinal) || body.Contains("offset_mismatch", StringComparison.Ordinal)), body);
                return false;
            },
            "the upload takes the rest of the file (it answers upload_busy until it has noticed the broken connection)");

        using var completed = await client.PostAsync($"api/v1/uploads/{id}/complete", null);
        var version = await completed.JsonAsync(HttpStatusCode.Created);
        Assert.Equal(TestArtifacts.Sha256(gguf), (string?)version["sha256"]);
    }

    [Theory]
    [OnSqlite]
    [OnPostgres]
    public async Task Sessions_carry_external_data_checksums_and_can_be_cancelled(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync();
        var (modelSession, dataSession, _, _) = await UploadedWithExternalDataAsync(client, name, seed: 5);
        using (var completed = await client.PostAsync($"api/v1/uploads/{modelSession}/complete", Api.Json($$"""{"files": ["{{dataSession}}"], "version": 3}""")))
        {
            var version = await completed.JsonAsync(HttpStatusCode.Created);
            Assert.Equal(3, (int)version["version"]!);
            Assert.Equal(["mlp.onnx", "mlp.weights"], version["files"]!.AsArray().Select(f => (string?)f!["path"]));
        }

        var bad = await CreateSessionAsync(client, name, "model.onnx", sha: new string('a', 64));
        (await PatchAsync(client, bad, 0, new ByteArrayContent(TestArtifacts.Onnx()))).Dispose();
        using (var mismatch = await client.PostAsync($"api/v1/uploads/{bad}/complete", Api.Json("{}")))
        {
            await mismatch.ErrorAsync(HttpStatusCode.BadRequest, "checksum_mismatch");
        }

        var cancelled = await CreateSessionAsync(client, name, "model.onnx");
        using (var cancel = await client.DeleteAsync($"api/v1/uploads/{cancelled}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, cancel.StatusCode);
        }

        using (var after = await PatchAsync(client, cancelled, 0, new ByteArrayContent([1])))
        {
            await after.ErrorAsync(HttpStatusCode.NotFound, "upload_not_found");
        }

        using (var unknown = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "api/v1/uploads/../../etc")))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        }

        using (var noOffset = await client.PatchAsync($"api/v1/uploads/{await CreateSessionAsync(client, name, "x.onnx")}", new ByteArrayContent([1])))
        {
            await noOffset.ErrorAsync(HttpStatusCode.BadRequest, "missing_offset");
        }

        // An offset that is there but not a number says so, rather than that the header is missing.
        foreach (var offset in new[] { "-1", "abc" })
        {
            var request = new HttpRequestMessage(HttpMethod.Patch, $"api/v1/uploads/{await CreateSessionAsync(client, name, "x.onnx")}") { Content = new ByteArrayContent([1]) };
            request.Headers.TryAddWithoutValidation("Upload-Offset", offset);
            using var invalid = await client.SendAsync(request);
            var error = await invalid.ErrorAsync(HttpStatusCode.BadRequest, "invalid_offset");
            Assert.Contains($"'{offset}'", (string?)error["message"], StringComparison.Ordinal);
        }

        // A version number past what a version can be is out of range, not "not a whole number".
        var hugeRequest = new HttpRequestMessage(HttpMethod.Post, $"api/v1/models/{name}/versions?version=99999999999") { Content = new ByteArrayContent([1]) };
        hugeRequest.Headers.Add("X-Maas-Filename", "model.onnx");
        using (var huge = await client.SendAsync(hugeRequest))
        {
            var error = await huge.ErrorAsync(HttpStatusCode.BadRequest, "invalid_query");
            Assert.Contains("out of range", (string?)error["message"], StringComparison.Ordinal);
        }

        using var badName = await client.PostAsync($"api/v1/models/{name}/uploads", Api.Json("""{"filename": "../x.onnx"}"""));
        await badName.ErrorAsync(HttpStatusCode.BadRequest, "invalid_filename");
    }

    [Theory]
    [OnSqlite]
    public async Task Completing_with_the_uploads_own_id_or_one_id_twice_in_files_is_400_and_uses_nothing_up(Db db)
    {
        var client = (await servers.GetAsync(db)).Client;
        var name = await client.CreateModelAsync();
        var (modelSession, dataSession, model, data) = await UploadedWithExternalDataAsync(client, name, seed: 6);

        // The upload's own id used to be dropped without a word, and so was an id given twice.
        using (var itself = await client.PostAsync($"api/v1/uploads/{modelSession}/complete", Api.Json($$"""{"files": ["{{modelSession}}", "{{dataSession}}"]}""")))
        {
            var error = await itself.ErrorAsync(HttpStatusCode.BadRequest, "invalid_upload");
            Assert.Contains($"files lists upload '{modelSession}', the upload being completed", (string?)error["message"], StringComparison.Ordinal);
        }

        using (var twice = await client.PostAsync($"api/v1/uploads/{modelSession}/complete", Api.Json($$"""{"files": ["{{dataSession}}", "{{dataSession}}"]}""")))
        {
            var error = await twice.ErrorAsync(HttpStatusCode.BadRequest, "invalid_upload");
            Assert.Contains($"files lists upload '{dataSession}' more than once", (string?)error["message"], StringComparison.Ordinal);
        }

        // Both sessions are still there, whole, and complete as they should.
        Assert.Equal(model.Length, await OffsetAsync(client, modelSession));
        Assert.Equal(data.Length, await OffsetAsync(client, dataSession));
        using var completed = await client.PostAsync($"api/v1/uploads/{modelSession}/complete", Api.Json($$"""{"files": ["{{dataSession}}"]}"""));
        var version = await completed.JsonAsync(HttpStatusCode.Created);
        Assert.Equal(["mlp.onnx", "mlp.weights"], version["files"]!.AsArray().Select(f => (string?)f!["path"]));
    }

    // An ONNX model with external data uploaded as two full sessions (the model's, then its data's), not yet completed.
    private static async Task<(string ModelSession, string DataSession, byte[] Model, byte[] Data)> UploadedWithExternalDataAsync(HttpClient client, string name, int seed)
    {
        using var folder = new TempDirectory();
        var (modelPath, dataPath) = TestArtifacts.OnnxWithExternalData(folder.Path, seed);
        var model = await File.ReadAllBytesAsync(modelPath);
        var data = await File.ReadAllBytesAsync(dataPath);
        var modelSession = await CreateSessionAsync(client, name, "mlp.onnx", model.Length);
        var dataSession = await CreateSessionAsync(client, name, "mlp.weights", data.Length);
        (await PatchAsync(client, modelSession, 0, new ByteArrayContent(model))).Dispose();
        (await PatchAsync(client, dataSession, 0, new ByteArrayContent(data))).Dispose();
        return (modelSession, dataSession, model, data);
    }

    /// <summary>A request body that stops after <c>failAfter</c> bytes and, once told to break, fails like a dropped connection.</summary>
    internal sealed class FailingStream(byte[] bytes, int failAfter) : Stream
    {
        private readonly TaskCompletionSource _break = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public void Break() => _break.TrySetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position >= failAfter)
            {
                await _break.Task.WaitAsync(cancellationToken);
                throw new IOException("simulated broken connection");
            }

            var n = Math.Min(buffer.Length, failAfter - _position);
            bytes.AsMemory(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
