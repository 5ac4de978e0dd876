using System.Net;
using System.Net.Http.Headers;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Server.Tests.Registry;

/// <summary>A model upload named like no model file is refused from its headers, before its body is sent.</summary>
public sealed class UploadFileNameTests(ServerPerDb servers) : IClassFixture<ServerPerDb>
{
    [Fact]
    public async Task A_raw_upload_named_txt_is_refused_before_its_body_is_asked_for()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var name = await server.Client.CreateModelAsync();
        // Expect: 100-continue: the client sends the body only once the server asks for it by reading it, and waits a
        // minute for that; a refusal from the headers comes without the body ever being sent.
        using var handler = new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromMinutes(1) };
        using var client = new HttpClient(handler) { BaseAddress = server.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", MaasTestServer.AdminKey);
        var body = new WatchedContent(1 << 20);
        body.Headers.Add("X-Maas-Filename", "notes.txt");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"api/v1/models/{name}/versions") { Content = body };
        request.Headers.ExpectContinue = true;
        using var response = await client.SendAsync(request);
        var error = await response.ErrorAsync(HttpStatusCode.BadRequest, "unsupported_format");
        Assert.Contains(".onnx", (string?)error["message"], StringComparison.Ordinal);
        Assert.Contains(".gguf", (string?)error["message"], StringComparison.Ordinal);
        Assert.Contains("notes.txt", (string?)error["message"], StringComparison.Ordinal);
        Assert.False(body.Sent, "the body was sent: the server read it before refusing the name");

        // A model file's name still goes through to the content check.
        await (await server.Client.PostAsync($"api/v1/models/{name}/versions", MaasTestServer.Artifact("not a model"u8.ToArray(), "notes.onnx")))
            .ErrorAsync(HttpStatusCode.BadRequest, "unknown_format");
    }

    // A body of a declared length that records whether the client began sending it.
    private sealed class WatchedContent : HttpContent
    {
        private readonly long _length;

        public WatchedContent(long length)
        {
            _length = length;
            Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        }

        public bool Sent { get; private set; }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            Sent = true;
            var chunk = new byte[64 * 1024];
            for (long written = 0; written < _length; written += chunk.Length)
            {
                await stream.WriteAsync(chunk);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _length;
            return true;
        }
    }
}
