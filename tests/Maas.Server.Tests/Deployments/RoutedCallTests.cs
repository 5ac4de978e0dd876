using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Threading.Channels;
using Google.Protobuf;
using Maas.Core.Formats.Gguf;
using Maas.Core.Hosting;
using Maas.Server.Deployments;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.Support;
using Maas.Server.Tests.TensorInference;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.Deployments;

/// <summary>
/// The calls a deployment routed to a version, as its unload waits for them (<see cref="DeploymentRouter.WaitForRoutedCallsAsync"/>):
/// the waiter wakes when the last one ends, keeps its ceiling and its cancellation, and streams count for as long as
/// they are open.
/// </summary>
public sealed class RoutedCallTests(DeploymentGrpcServers servers) : IClassFixture<DeploymentGrpcServers>
{
    private static readonly TimeSpan Ceiling = TimeSpan.FromSeconds(30);

    // The ceiling the unloader gives a version's calls, far beyond any of these tests.
    private static readonly TimeSpan Unloader = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task A_waiter_wakes_when_the_held_call_ends_and_keeps_its_ceiling_and_its_cancellation()
    {
        var (server, factory, _) = await DeploymentRaceTests.StartWithHeldFactoryAsync();
        await using var started = server;
        var router = server.Services.GetRequiredService<DeploymentRouter>();
        var (model, held) = await DeploymentRaceTests.DeployWithACallHeldOnVersion2Async(server.Client, factory);

        // The call is held inside its run: every waiter below starts while it is in flight.
        var waiter = router.WaitForRoutedCallsAsync(model, 2, Unloader, CancellationToken.None);
        var unbounded = router.WaitForRoutedCallsAsync(model, 2, Timeout.InfiniteTimeSpan, CancellationToken.None);
        using var giveUp = new CancellationTokenSource();
        var cancelled = router.WaitForRoutedCallsAsync(model, 2, Unloader, giveUp.Token);
        Assert.False(await router.WaitForRoutedCallsAsync(model, 2, TimeSpan.Zero, CancellationToken.None));
        Assert.False(await router.WaitForRoutedCallsAsync(model, 2, TimeSpan.FromMilliseconds(1), CancellationToken.None));
        giveUp.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(Ceiling));
        Assert.False(waiter.IsCompleted);
        Assert.False(unbounded.IsCompleted);

        factory.Released.Set();
        using (var answer = await held)
        {
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        Assert.True(await waiter.WaitAsync(Ceiling));
        Assert.True(await unbounded.WaitAsync(Ceiling));
        Assert.True(await router.WaitForRoutedCallsAsync(model, 2, TimeSpan.Zero, CancellationToken.None));
    }

    [Fact]
    public async Task A_waiter_wakes_only_when_the_last_of_many_concurrent_calls_ends()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var router = server.Services.GetRequiredService<DeploymentRouter>();
        var model = await DeployAsync(server.Client, 1);
        await WaitUntilAsync(() => router.Find(model) is not null, "this server routes the model");

        // 64 calls routed at once, from as many threads.
        var calls = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(() => RoutedTestCall.Route(router, model))));
        var waiter = router.WaitForRoutedCallsAsync(model, 1, Unloader, CancellationToken.None);
        await Task.WhenAll(calls.Skip(1).Select(c => Task.Run(c.Complete)));
        Assert.False(waiter.IsCompleted); // one call is still running
        Assert.False(await router.WaitForRoutedCallsAsync(model, 1, TimeSpan.Zero, CancellationToken.None));
        await calls[0].Complete();
        Assert.True(await waiter.WaitAsync(Ceiling));

        // A call that ends while its waiter starts, over and over: the waiter never misses that end.
        for (var i = 0; i < 500; i++)
        {
            var call = RoutedTestCall.Route(router, model);
            var go = new TaskCompletionSource();
            var ending = go.Task.ContinueWith(_ => call.Complete(), TaskScheduler.Default).Unwrap();
            var waiting = go.Task.ContinueWith(_ => router.WaitForRoutedCallsAsync(model, 1, Unloader, CancellationToken.None), TaskScheduler.Default).Unwrap();
            go.SetResult(); // both queued to the thread pool at once, without blocking a thread
            await ending;
            Assert.True(await waiting.WaitAsync(Ceiling), $"round {i}");
        }

        // Waiters and calls all at once: every waiter wakes once the calls have ended.
        var many = Enumerable.Range(0, 32).Select(_ => RoutedTestCall.Route(router, model)).ToArray();
        var waiters = Enumerable.Range(0, 16).Select(_ => Task.Run(() => router.WaitForRoutedCallsAsync(model, 1, Unloader, CancellationToken.None))).ToArray();
        await Task.WhenAll(many.Select(c => Task.Run(c.Complete)));
        Assert.All(await Task.WhenAll(waiters).WaitAsync(Ceiling), Assert.True);
    }

    [Fact]
    public async Task An_open_grpc_stream_counts_in_flight_for_the_version_its_latest_message_went_to_until_it_ends()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var router = server.Services.GetRequiredService<DeploymentRouter>();
        var host = server.Services.GetRequiredService<ModelHost>();
        var model = await client.CreateModelAsync();
        await client.UploadAsync(model, TestArtifacts.Onnx(1), "model.onnx");
        await client.UploadAsync(model, TestArtifacts.Onnx(2), "model.onnx");
        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 2, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
        await WaitUntilAsync(() => router.Find(model) is not null, "this server routes the model");

        // A stream whose message went to version 2, open and idle: the version's unload waits for it.
        await using (var stream = new GrpcStream(server.GrpcAddress()))
        {
            Assert.Equal("2", await stream.InferAsync(model));
            Assert.False(await router.WaitForRoutedCallsAsync(model, 2, TimeSpan.Zero, CancellationToken.None)); // was not counted
            await (await client.PatchAsync($"api/v1/deployments/{model}", Api.Json("""{"traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.OK);
            await WaitUntilAsync(() => DeploymentRouter.RoutedVersions(router.Find(model)!).SequenceEqual([1]), "this server routes to version 1 only");
            Assert.Equal(ModelState.Ready, host.Status(new ModelKey(model, 2))?.State);

            // Its next message follows the split to version 1: version 2 is free to go, version 1 is held now.
            Assert.Equal("1", await stream.InferAsync(model));
            Assert.True(await router.WaitForRoutedCallsAsync(model, 2, Ceiling, CancellationToken.None));
            await WaitUntilAsync(() => host.Status(new ModelKey(model, 2))?.State != ModelState.Ready, "version 2 is unloaded");
            Assert.False(await router.WaitForRoutedCallsAsync(model, 1, TimeSpan.Zero, CancellationToken.None));

            // The stream ends (the client closes its side and reads the server's end).
            Assert.Equal(0, await stream.EndAsync());
            Assert.True(await router.WaitForRoutedCallsAsync(model, 1, Ceiling, CancellationToken.None));
        }

        // A client that goes away without ending its stream frees the version too.
        var gone = new GrpcStream(server.GrpcAddress());
        Assert.Equal("1", await gone.InferAsync(model));
        Assert.False(await router.WaitForRoutedCallsAsync(model, 1, TimeSpan.Zero, CancellationToken.None));
        await gone.DisposeAsync();
        Assert.True(await router.WaitForRoutedCallsAsync(model, 1, Ceiling, CancellationToken.None));
    }

    [Fact]
    public async Task A_streamed_chat_counts_in_flight_until_its_client_goes_away()
    {
        var server = await servers.GetAsync(Db.Sqlite);
        var client = server.Client;
        var router = server.Services.GetRequiredService<DeploymentRouter>();
        var model = await client.CreateModelAsync();
        using (var gguf = new MemoryStream())
        {
            GgufLlamaModelFactory.Write(gguf, new GgufLlamaModelOptions { Name = "maas-test-llm", Seed = 7 });
            (await client.PutAsJsonAsync($"api/v1/models/{model}/config", new { parallel_sequences = 1, context_size = 4200 })).EnsureSuccessStatusCode();
            await client.UploadAsync(model, gguf.ToArray(), "gen.gguf");
        }

        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": 1, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
        await WaitUntilAsync(() => router.Find(model) is not null, "this server routes the model");

        // A generation that would run for thousands of tokens; the first chunk shows it is under way, and the engine is
        // paused from there (so the generation cannot end first, however fast the host).
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
        {
            Content = Api.Json($$"""{"model": "{{model}}", "stream": true, "max_tokens": 4000, "ignore_eos": true, "messages": [{"role": "user", "content": "talk"}]}"""),
        };
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync());
        using var pause = EnginePause.Of(server, model);
        var waiter = router.WaitForRoutedCallsAsync(model, 1, Unloader, CancellationToken.None);
        Assert.False(waiter.IsCompleted);

        // The client goes away mid-stream (the generation still paused: only the departure can end the call).
        reader.Dispose();
        response.Dispose();
        Assert.True(await waiter.WaitAsync(Ceiling));
        pause.Resume();
    }

    private static async Task<string> DeployAsync(HttpClient client, int version)
    {
        var model = await client.CreateModelAsync();
        for (var v = 1; v <= version; v++)
        {
            await client.UploadAsync(model, TestArtifacts.Onnx(v), "model.onnx");
        }

        await (await client.PostAsync("api/v1/deployments",
            Api.Json($$"""{"model": "{{model}}", "traffic": [{"version": {{version}}, "percent": 100}]}"""))).JsonAsync(HttpStatusCode.Created);
        return model;
    }

    /// <summary>A ModelStreamInfer call the test writes message by message and keeps open.</summary>
    private sealed class GrpcStream : IAsyncDisposable
    {
        private readonly HttpClient _http;
        private readonly Channel<byte[]> _outgoing = Channel.CreateUnbounded<byte[]>();
        private readonly HttpRequestMessage _request;
        private readonly Task<HttpResponseMessage> _sending;
        private HttpResponseMessage? _response;
        private Stream? _incoming;

        /// <summary>Starts the call; its first message goes with <see cref="InferAsync"/>.</summary>
        public GrpcStream(Uri address)
        {
            _http = new HttpClient(new SocketsHttpHandler()) { BaseAddress = address, Timeout = Timeout.InfiniteTimeSpan };
            _request = new HttpRequestMessage(HttpMethod.Post, "/inference.GRPCInferenceService/ModelStreamInfer")
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new ChannelContent(_outgoing.Reader),
            };
            _request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
            _request.Headers.TE.ParseAdd("trailers");
            _request.Headers.TryAddWithoutValidation("authorization", "Bearer " + MaasTestServer.AdminKey);
            _sending = _http.SendAsync(_request, HttpCompletionOption.ResponseHeadersRead);
        }

        /// <summary>Sends one message naming <paramref name="model"/> without a version; the version that answered it.</summary>
        public async Task<string> InferAsync(string model)
        {
            var message = new ModelInferRequest { ModelName = model };
            var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32" };
            input.Shape.Add([1, 4]);
            message.Inputs.Add(input);
            message.RawInputContents.Add(ByteString.CopyFrom(InferenceHost.Floats([0.5f, -1.25f, 2f, 0.75f])));
            await _outgoing.Writer.WriteAsync(GrpcFrames.Frame(message.ToByteArray()));

            _response ??= await _sending.WaitAsync(Ceiling);
            Assert.Equal(HttpStatusCode.OK, _response.StatusCode);
            _incoming ??= await _response.Content.ReadAsStreamAsync();
            var answer = await GrpcFrames.ReadFrameAsync(_incoming).WaitAsync(Ceiling);
            var parsed = ModelStreamInferResponse.Parser.ParseFrom(answer);
            Assert.True(parsed.ErrorMessage.Length == 0, parsed.ErrorMessage);
            return parsed.InferResponse.ModelVersion;
        }

        /// <summary>Closes the client's side and reads to the server's end; the call's grpc-status.</summary>
        public async Task<int> EndAsync()
        {
            _outgoing.Writer.TryComplete();
            var rest = new byte[1024];
            while (await _incoming!.ReadAsync(rest).AsTask().WaitAsync(Ceiling) > 0)
            {
            }

            return int.Parse(_response!.TrailingHeaders.GetValues("grpc-status").Single(), System.Globalization.CultureInfo.InvariantCulture);
        }

        /// <summary>Goes away: the connection closes, whether or not the stream ended.</summary>
        public async ValueTask DisposeAsync()
        {
            if (_incoming is not null)
            {
                await _incoming.DisposeAsync();
            }

            _response?.Dispose();
            _http.Dispose();
            _request.Dispose();
            _outgoing.Writer.TryComplete();
        }
    }
}
