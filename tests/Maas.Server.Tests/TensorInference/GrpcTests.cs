using Google.Protobuf;
using Maas.Core.TensorServing;
using Maas.Server.TensorInference.Grpc.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Maas.Server.Tests.TensorInference;

/// <summary>inference.GRPCInferenceService on its own port, spoken over HTTP/2 by a plain HttpClient.</summary>
public sealed class GrpcTests(ProtocolFixture fixture) : IClassFixture<ProtocolFixture>, IDisposable
{
    private readonly GrpcTestClient _grpc = new(fixture.Server.GrpcAddress());

    public void Dispose() => _grpc.Dispose();

    public static TheoryData<TensorDataType> Types() => new(TestModels.IdentityTypes);

    [Fact]
    public async Task Health_and_metadata_calls_answer()
    {
        Assert.True((await _grpc.CallAsync("ServerLive", new ServerLiveRequest(), ServerLiveResponse.Parser)).Single.Live);
        Assert.True((await _grpc.CallAsync("ServerReady", new ServerReadyRequest(), ServerReadyResponse.Parser)).Single.Ready);
        var server = (await _grpc.CallAsync("ServerMetadata", new ServerMetadataRequest(), ServerMetadataResponse.Parser)).Single;
        Assert.Equal("maas", server.Name);
        Assert.Contains("statistics", server.Extensions);
        var model = await _grpc.CallAsync("ModelMetadata", new ModelMetadataRequest { Name = "pair" }, ModelMetadataResponse.Parser);
        Assert.Equal(0, model.Status);
        Assert.Equal(["x"], model.Single.Inputs.Select(i => i.Name));
        Assert.Equal([-1L, 3L], model.Single.Inputs[0].Shape);
        Assert.Equal(["copy", "negated"], model.Single.Outputs.Select(o => o.Name));
        Assert.True((await _grpc.CallAsync("ModelReady", new ModelReadyRequest { Name = "versioned", Version = "2" }, ModelReadyResponse.Parser)).Single.Ready);
        var missing = await _grpc.CallAsync("ModelMetadata", new ModelMetadataRequest { Name = "nope" }, ModelMetadataResponse.Parser);
        Assert.Equal(5, missing.Status); // NOT_FOUND
        Assert.Contains("nope", missing.Message);
        var unknown = await _grpc.CallAsync("Frobnicate", new ServerLiveRequest(), ServerLiveResponse.Parser);
        Assert.Equal(12, unknown.Status); // UNIMPLEMENTED
    }

    [Fact]
    public async Task A_call_resolves_the_main_apps_services_from_its_request_services()
    {
        // The gRPC listener is a Kestrel host of its own; middleware added to it must still see the main container.
        object? seen = null;
        await using var server = await Support.MaasTestServer.StartAsync(
            settings: new Dictionary<string, string?> { ["Maas:Inference:GrpcUrl"] = "http://127.0.0.1:0" },
            configure: builder => builder.Services.Configure<Maas.Server.TensorInference.Grpc.GrpcPipelineOptions>(o => o.Use((app, _) => app.Use(async (context, next) =>
            {
                seen = context.RequestServices.GetService(typeof(ModelManager));
                await next(context);
            }))));
        using var grpc = new GrpcTestClient(server.GrpcAddress());
        Assert.True((await grpc.CallAsync("ServerLive", new ServerLiveRequest(), ServerLiveResponse.Parser)).Single.Live);
        Assert.NotNull(seen);
        Assert.Same(server.Services.GetService(typeof(ModelManager)), seen);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public async Task Every_datatype_round_trips_as_raw_contents(TensorDataType type)
    {
        var raw = TestModels.RawValues(type);
        var request = new ModelInferRequest { ModelName = ProtocolFixture.IdentityModel(type), Id = "g-" + type.Name() };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = type.Name() };
        input.Shape.Add([2, 3]);
        request.Inputs.Add(input);
        request.RawInputContents.Add(ByteString.CopyFrom(raw));
        var result = await _grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
        Assert.True(result.Status == 0, result.Message);
        var response = result.Single;
        Assert.Equal(("g-" + type.Name(), "1"), (response.Id, response.ModelVersion));
        Assert.Equal(("output", type.Name()), (response.Outputs[0].Name, response.Outputs[0].Datatype));
        Assert.Equal([2L, 3L], response.Outputs[0].Shape);
        Assert.Equal(raw, response.RawOutputContents[0].ToByteArray());
    }

    [Fact]
    public async Task Typed_contents_are_accepted_and_requested_outputs_and_versions_apply()
    {
        var request = new ModelInferRequest { ModelName = "pair" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "x", Datatype = "FP32", Contents = new InferTensorContents() };
        input.Shape.Add([1, 3]);
        input.Contents.Fp32Contents.Add([1, 2, 3]);
        request.Inputs.Add(input);
        request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "negated" });
        var response = (await _grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser)).Single;
        Assert.Equal(["negated"], response.Outputs.Select(o => o.Name));
        Assert.Equal(InferenceHost.Floats([-1, -2, -3]), response.RawOutputContents[0].ToByteArray());

        var versioned = new ModelInferRequest { ModelName = "versioned", ModelVersion = "1" };
        var vi = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32" };
        vi.Shape.Add([1, 3]);
        versioned.Inputs.Add(vi);
        versioned.RawInputContents.Add(ByteString.CopyFrom(InferenceHost.Floats([4, 5, 6])));
        Assert.Equal(InferenceHost.Floats([4, 5, 6]), (await _grpc.CallAsync("ModelInfer", versioned, ModelInferResponse.Parser)).Single.RawOutputContents[0].ToByteArray());
        versioned.ModelVersion = "";
        versioned.ModelName = "versioned:stable";
        Assert.Equal(InferenceHost.Floats([4, 5, 6]), (await _grpc.CallAsync("ModelInfer", versioned, ModelInferResponse.Parser)).Single.RawOutputContents[0].ToByteArray());
    }

    [Fact]
    public async Task Stream_infer_answers_each_message_and_reports_errors_in_the_stream()
    {
        ModelInferRequest Request(float value, string name = "input")
        {
            var r = new ModelInferRequest
            {
                ModelName = ProtocolFixture.IdentityModel(TensorDataType.FP32),
                Id = value.ToString(System.Globalization.CultureInfo.InvariantCulture)
            };
            var i = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = "FP32" };
            i.Shape.Add([1, 3]);
            r.Inputs.Add(i);
            r.RawInputContents.Add(ByteString.CopyFrom(InferenceHost.Floats([value, value, value])));
            return r;
        }

        var result = await _grpc.CallRawAsync("ModelStreamInfer",
            [Request(1).ToByteArray(), Request(2, name: "bad").ToByteArray(), Request(3).ToByteArray()], ModelStreamInferResponse.Parser);
        Assert.Equal(0, result.Status);
        Assert.Equal(3, result.Responses.Count);
        Assert.Equal("1", result.Responses[0].InferResponse.Id);
        Assert.Contains("unknown input 'bad'", result.Responses[1].ErrorMessage);
        Assert.Equal(InferenceHost.Floats([3, 3, 3]), result.Responses[2].InferResponse.RawOutputContents[0].ToByteArray());
    }

    [Fact]
    public async Task Repository_and_statistics_calls_work()
    {
        const string model = "counted";
        var request = new ModelInferRequest { ModelName = model };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "INT32" };
        input.Shape.Add([1, 3]);
        request.Inputs.Add(input);
        request.RawInputContents.Add(ByteString.CopyFrom(new byte[12]));
        Assert.Equal(0, (await _grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser)).Status);

        var stats = (await _grpc.CallAsync("ModelStatistics", new ModelStatisticsRequest { Name = model }, ModelStatisticsResponse.Parser)).Single;
        Assert.Equal(1UL, stats.ModelStats.Single().InferenceStats.Success.Count);
        Assert.Equal(1UL, stats.ModelStats.Single().BatchStats.Single().BatchSize);

        var index = (await _grpc.CallAsync("RepositoryIndex", new RepositoryIndexRequest { Ready = true }, RepositoryIndexResponse.Parser)).Single;
        Assert.Contains(index.Models, m => m.Name == model && m.State == "READY");
        Assert.Equal(0, (await _grpc.CallAsync("RepositoryModelUnload", new RepositoryModelUnloadRequest { ModelName = model }, RepositoryModelUnloadResponse.Parser)).Status);
        var refused = await _grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
        Assert.Equal(14, refused.Status); // UNAVAILABLE
        Assert.Equal(0, (await _grpc.CallAsync("RepositoryModelLoad", new RepositoryModelLoadRequest { ModelName = model }, RepositoryModelLoadResponse.Parser)).Status);
        Assert.Equal(0, (await _grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser)).Status);
    }

    [Fact]
    public async Task A_deadline_shorter_than_the_work_ends_with_deadline_exceeded_or_success()
    {
        var request = new ModelInferRequest { ModelName = ProtocolFixture.IdentityModel(TensorDataType.FP64) };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP64" };
        input.Shape.Add([1, 3]);
        request.Inputs.Add(input);
        request.RawInputContents.Add(ByteString.CopyFrom(new byte[24]));
        var result = await _grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser, new Dictionary<string, string> { ["grpc-timeout"] = "1n" });
        Assert.Contains(result.Status, new[] { 0, 4 });
        var ok = await _grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser, new Dictionary<string, string> { ["grpc-timeout"] = "10S" });
        Assert.Equal(0, ok.Status);
    }

    [Fact]
    public async Task A_client_that_resets_its_call_mid_request_is_counted_as_cancelled_and_logs_no_error()
    {
        // Kestrel fails the body read at once on RST_STREAM but cancels RequestAborted a moment later from the thread
        // pool: whichever the handler sees first, the call is the client's cancellation, never a logged server failure.
        var logs = new Maas.Testing.CapturedLogs();
        await using var server = await InferenceHost.StartAsync(configure: b => b.Logging.AddProvider(logs));
        using var http = new HttpClient(new SocketsHttpHandler()) { BaseAddress = server.GrpcAddress(), Timeout = Timeout.InfiniteTimeSpan };
        const int Calls = 10;
        for (var i = 0; i < Calls; i++)
        {
            using var cancel = new CancellationTokenSource();
            var content = new HalfSentMessage();
            using var request = new HttpRequestMessage(HttpMethod.Post, "/inference.GRPCInferenceService/ModelInfer")
            {
                Content = content,
                Version = System.Net.HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
            request.Headers.TryAddWithoutValidation("authorization", "Bearer " + Support.MaasTestServer.AdminKey);
            var call = http.SendAsync(request, cancel.Token);
            await content.Sent.Task;
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        }

        var metrics = await Maas.Testing.Conditions.ReadUntilAsync(
            () => server.Client.GetStringAsync("/metrics"),
            m => ModelHosting.Placement.Sum(m, "maas_request_duration_seconds_count", "protocol=\"oip-grpc\"", "route=\"ModelInfer\"") >= Calls,
            "every reset call counted");
        Assert.Equal(Calls, ModelHosting.Placement.Sum(metrics, "maas_request_duration_seconds_count", "route=\"ModelInfer\"", "status=\"499\""));
        Assert.DoesNotContain(logs.Lines, l => l.Level >= LogLevel.Error && l.Category.Contains("Grpc", StringComparison.Ordinal));
    }

    // A gRPC body that sends the first bytes of a message (its prefix announces more) and then waits to be cancelled.
    private sealed class HalfSentMessage : HttpContent
    {
        public TaskCompletionSource Sent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.WriteAsync(new byte[] { 0, 0, 0, 0, 100, 10, 3 }, cancellationToken);
            await stream.FlushAsync(cancellationToken);
            Sent.TrySetResult();
            // The rest of the message never comes: the body stays open until the client cancels the call.
            await new TaskCompletionSource().Task.WaitAsync(cancellationToken);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
