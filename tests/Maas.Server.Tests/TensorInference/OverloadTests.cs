using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Maas.Core.TensorServing;
using Maas.Server.TensorInference.Grpc.Protocol;
using Maas.Server.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static Maas.Testing.Conditions;

namespace Maas.Server.Tests.TensorInference;

/// <summary>
/// Overload is refused cheaply: a model whose queue is full answers 429 before reading the body (and closes the
/// connection), and a queue-time budget refuses requests that would wait too long and drops those that waited too long.
/// The batch that keeps a model busy is held at a gate the test opens (<see cref="GatedRuns"/>), never a batch big
/// enough to outlast the test's next steps: how long a batch runs depends on the host, and a busy CI host once ran
/// 4096 rows faster than the test got to its refusals.
/// </summary>
public class OverloadTests : IAsyncLifetime
{
    private const int Width = 512;
    private MaasTestServer _server = null!;
    private GatedRuns _runs = null!;

    private HttpClient Client => _server.Client;

    public async Task InitializeAsync()
    {
        _server = await InferenceHost.StartAsync(Settings, GatedRuns.Install(runs => _runs = runs));
        _ = _server.Services.GetRequiredService<IModelBackendFactory>();

        // The only instance is kept busy by a held batch (HeldRows rows) on purpose. "full" has no queue time budget: on
        // a loaded host the request waiting behind the held batch could otherwise be dropped past the default 10 s.
        await _server.RegisterAsync("full", TestModels.Mlp(Width, [64], Width, seed: 3),
            new { max_batch_size = 0, queue_limit = 1, instance_count = 1, threads = 1, queue_time_budget_ms = 0 });
        await _server.RegisterAsync("budget", TestModels.Mlp(Width, [64], Width, seed: 3),
            new { max_batch_size = 0, queue_limit = 100, instance_count = 1, threads = 1, queue_time_budget_ms = 200 });
    }

    public async Task DisposeAsync()
    {
        _runs?.OpenAll();
        await _server.DisposeAsync();
    }

    /// <summary>The server's settings: Kestrel's sockets here, a thread per connection in the derived class.</summary>
    protected virtual IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>();

    [Fact]
    public async Task A_full_queue_answers_429_before_reading_the_body_and_closes_the_connection()
    {
        var (running, queued) = await FillQueueAsync();

        // Announce a 32 MB body, send 64 KB of it, and wait: the answer must come without the rest.
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_server.BaseAddress.Host, _server.BaseAddress.Port);
        const int declared = 16 << 20;
        var json = $$$"""{"inputs":[{"name":"input","shape":[{{{declared / 4 / Width}}},{{{Width}}}],"datatype":"FP32","parameters":{"binary_data_size":{{{declared}}}}}]}""";
        var head = $"POST /v2/models/full/infer HTTP/1.1\r\nHost: {_server.BaseAddress.Authority}\r\nAuthorization: Bearer {MaasTestServer.AdminKey}\r\n"
            + $"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {json.Length}\r\nContent-Length: {json.Length + declared}\r\n\r\n{json}";
        await socket.SendAsync(Encoding.ASCII.GetBytes(head));
        await socket.SendAsync(new byte[64 << 10]);

        var (status, headers, body, closed) = await ReadResponseAsync(socket);
        Assert.Equal(429, status);
        Assert.Equal("close", headers["connection"], ignoreCase: true);
        Assert.Equal("1", headers["retry-after"]);
        using var error = JsonDocument.Parse(body);
        Assert.Contains("queue of model 'full' version 1 is full (1 requests waiting, the configured limit)", error.RootElement.GetProperty("error").GetString());
        Assert.Equal("queue_limit", error.RootElement.GetProperty("limit").GetString());
        Assert.Equal(1, error.RootElement.GetProperty("limit_value").GetInt32());
        Assert.True(closed, "the server must close the connection rather than read the rest of the upload");
        Assert.False(running.IsCompleted, "the refusal must come while the queue is full");

        _runs.Gate("full").Open();
        Assert.Equal(HttpStatusCode.OK, (await running).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await queued).StatusCode);
    }

    [Fact]
    public async Task A_refused_upload_is_answered_before_it_is_sent_and_the_server_never_takes_the_rest()
    {
        // The listener reads only a little ahead of the handler, so a refused body stays in the socket.
        var transport = _server.Services
            .GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions>>().Value;
        Assert.Equal(64L << 10, transport.MaxReadBufferSize);

        var (running, queued) = await FillQueueAsync();

        // Announce 48 MiB, send the headers and 16 KiB of it; the answer must come without the rest.
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_server.BaseAddress.Host, _server.BaseAddress.Port);
        const int declared = 48 << 20;
        const int sent = 16 << 10;
        var json = $$$"""{"inputs":[{"name":"input","shape":[{{{declared / 4 / Width}}},{{{Width}}}],"datatype":"FP32","parameters":{"binary_data_size":{{{declared}}}}}]}""";
        var head = $"POST /v2/models/full/infer HTTP/1.1\r\nHost: {_server.BaseAddress.Authority}\r\nAuthorization: Bearer {MaasTestServer.AdminKey}\r\n"
            + $"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {json.Length}\r\nContent-Length: {json.Length + declared}\r\n\r\n{json}";
        await socket.SendAsync(Encoding.ASCII.GetBytes(head));
        await socket.SendAsync(new byte[sent]);

        var (status, headers, body) = await ReadResponseHeadAndBodyAsync(socket);
        Assert.Equal(429, status);
        Assert.Equal("close", headers["connection"], ignoreCase: true);
        Assert.Equal("1", headers["retry-after"]);
        using (var error = JsonDocument.Parse(body))
        {
            Assert.Equal("queue_limit", error.RootElement.GetProperty("limit").GetString());
        }

        // Now try to send the rest. A server that read (or drained) the body would take all of it; this one closed the
        // connection, so once the kernel's buffers are full (a few MiB at most) the send fails.
        var accepted = await SendUntilRefusedAsync(socket, declared - sent);
        Assert.True(accepted < declared - sent, $"the server took the whole refused upload ({accepted} bytes after the refusal)");
        Assert.True(await ClosedAsync(socket), "the server must close the connection after the refusal");

        // The refusal cost the admitted requests on other connections nothing, and new ones are served.
        Assert.False(running.IsCompleted, "the refusal must come while the queue is full");
        _runs.Gate("full").Open();
        Assert.Equal(HttpStatusCode.OK, (await running).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await queued).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Client.PostAsync("/v2/models/full/infer", Rows(2))).StatusCode);
    }

    [Fact]
    public async Task The_queue_time_budget_drops_requests_that_waited_too_long_and_refuses_those_that_would()
    {
        // Loaded without a run, so the scheduler has no run time to estimate waits from: the small request is admitted.
        (await Client.PostAsync("/v2/repository/models/budget/load", null)).EnsureSuccessStatusCode();
        var scheduler = await SchedulerOf("budget");
        Assert.Equal(TimeSpan.FromMilliseconds(200), scheduler.Options.QueueTimeBudget);
        var before = await InferenceCount("budget");
        var gate = _runs.Gate("budget");
        gate.Close();
        var running = Client.PostAsync("/v2/models/budget/infer", Rows(HeldRows));
        await WaitUntilAsync(() => gate.Held == 1, "the first batch is held in its run");
        var late = Client.PostAsync("/v2/models/budget/infer", Rows(2));
        await WaitUntilAsync(() => scheduler.QueueLength == 1);

        // The batch stays held until the request behind it has waited five times its budget (time passing is the
        // condition here; a busy host only makes the wait longer), so that request is dropped rather than run.
        var queued = Stopwatch.StartNew();
        await WaitUntilAsync(() => queued.Elapsed >= HeldFor, "the late request has waited far past its budget");
        gate.Open();
        Assert.Equal(HttpStatusCode.OK, (await running).StatusCode);
        var dropped = await late;
        Assert.Equal(HttpStatusCode.TooManyRequests, dropped.StatusCode);
        Assert.Equal("1", dropped.Headers.GetValues("Retry-After").Single());
        using (var error = JsonDocument.Parse(await dropped.Content.ReadAsStringAsync()))
        {
            Assert.Matches("waited \\d+ ms for model 'budget' version 1 \\(its body read and its queue\\) and would run about \\d+ ms more, over its queue time budget of 200 ms " +
                "\\(queue_time_budget_ms\\), and was dropped", error.RootElement.GetProperty("error").GetString());
            Assert.Equal("queue_time_budget_ms", error.RootElement.GetProperty("limit").GetString());
            Assert.Equal(200, error.RootElement.GetProperty("limit_value").GetInt32());
        }

        Assert.Equal(before + HeldRows, await InferenceCount("budget")); // the late request never ran

        // Now the batch run time is known (the held batch's, at least HeldFor): while the next batch runs (held again),
        // a new request would wait past the budget (half a batch's observed run time is counted as left).
        gate.Close();
        var again = Client.PostAsync("/v2/models/budget/infer", Rows(HeldRows));
        await WaitUntilAsync(() => gate.Held == 1, "the second batch is held in its run");
        Assert.True(scheduler.ExpectedQueueWait > TimeSpan.FromMilliseconds(200), $"expected wait {scheduler.ExpectedQueueWait}");
        var refused = await Client.PostAsync("/v2/models/budget/infer", Rows(1));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("close", refused.Headers.Connection.Single(), ignoreCase: true);
        using (var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()))
        {
            Assert.Matches("model 'budget' version 1 is too busy: a new request would wait about \\d+ ms in its queue and run about \\d+ ms, over 80% of its queue time budget " +
                "of 200 ms \\(queue_time_budget_ms\\)", error.RootElement.GetProperty("error").GetString());
            Assert.Equal(200, error.RootElement.GetProperty("limit_value").GetInt32());
        }

        using var grpc = new GrpcTestClient(_server.GrpcAddress());
        var request = new ModelInferRequest { ModelName = "budget" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32" };
        input.Shape.Add([1, Width]);
        request.Inputs.Add(input);
        request.RawInputContents.Add(ByteString.CopyFrom(new byte[Width * 4]));
        var grpcRefused = await grpc.CallAsync("ModelInfer", request, ModelInferResponse.Parser);
        Assert.Equal(8, grpcRefused.Status); // RESOURCE_EXHAUSTED
        Assert.Contains("queue time budget of 200 ms (queue_time_budget_ms)", grpcRefused.Message);
        Assert.Equal("1", grpcRefused.Trailer("retry-after"));
        Assert.False(again.IsCompleted, "the refusals must come while the big request runs");
        gate.Open();
        Assert.Equal(HttpStatusCode.OK, (await again).StatusCode);
    }

    [Fact]
    public async Task A_queue_time_budget_out_of_range_is_refused_with_the_option_named()
    {
        var put = await Client.PutAsync("/api/v1/models/budget/config",
            new StringContent("""{"queue_time_budget_ms": -5}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains("queue_time_budget_ms must be between 0 and 86400000, not -5", await put.Content.ReadAsStringAsync());
    }

    // The rows of the batch a test holds at the gate (any size would do: the gate, not the size, keeps it running).
    private const int HeldRows = 64;

    // How long the budget test holds its first batch: five times the 200 ms budget, so half of that batch's run time
    // (what the scheduler counts as left of a running batch) is over the budget too.
    private static readonly TimeSpan HeldFor = TimeSpan.FromSeconds(1);

    private static HttpContent Rows(int rows)
    {
        var raw = new byte[rows * Width * 4];
        var json = $$$"""{"inputs":[{"name":"input","shape":[{{{rows}}},{{{Width}}}],"datatype":"FP32","parameters":{"binary_data_size":{{{raw.Length}}}}}]""" +
            $$$""","parameters":{"binary_data_output":true}}""";
        return InferenceHost.BinaryBody(json, raw);
    }

    private async Task<ModelScheduler> SchedulerOf(string model) =>
        await _server.Services.GetRequiredService<ModelManager>().AcquireAsync(model, null, CancellationToken.None);

    private async Task<long> InferenceCount(string model)
    {
        var (_, stats) = await Client.GetJsonAsync($"/v2/models/{model}/stats");
        return stats.GetProperty("model_stats")[0].GetProperty("inference_count").GetInt64();
    }

    // Reads one HTTP/1.1 response (Content-Length framed), then whether the server closed the connection after it.
    private static async Task<(int Status, Dictionary<string, string> Headers, string Body, bool Closed)> ReadResponseAsync(Socket socket)
    {
        var (status, headers, body) = await ReadResponseHeadAndBodyAsync(socket);
        return (status, headers, body, await ClosedAsync(socket));
    }

    // Sends zeros until the connection refuses them (or all were taken); returns how many bytes the sends took.
    private static async Task<long> SendUntilRefusedAsync(Socket socket, long count)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var chunk = new byte[1 << 20];
        long taken = 0;
        try
        {
            while (taken < count)
            {
                taken += await socket.SendAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, count - taken)), SocketFlags.None, timeout.Token);
            }
        }
        catch (SocketException)
        {
            // Reset or broken pipe: the server is gone.
        }

        return taken;
    }

    // Whether the server has closed the connection: the next read ends (or is reset) rather than bringing data.
    private static async Task<bool> ClosedAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            return await socket.ReceiveAsync(new byte[1024].AsMemory(), timeout.Token) == 0;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown)
        {
            return true; // closed with our unread upload in its buffer: a reset
        }
    }

    private static async Task<(int Status, Dictionary<string, string> Headers, string Body)> ReadResponseHeadAndBodyAsync(Socket socket)
    {
        var response = await RawHttpResponse.ReadAsync(socket);
        return (response.Status, response.Headers, response.Text);
    }

    // Model "full" (queue of one) busy with a batch held at its gate (the test opens it) and one request waiting behind
    // it: the next request is refused.
    private async Task<(Task<HttpResponseMessage> Running, Task<HttpResponseMessage> Queued)> FillQueueAsync()
    {
        (await Client.PostAsync("/v2/models/full/infer", Rows(1))).EnsureSuccessStatusCode();
        var scheduler = await SchedulerOf("full");
        var gate = _runs.Gate("full");
        gate.Close();
        var running = Client.PostAsync("/v2/models/full/infer", Rows(HeldRows));
        await WaitUntilAsync(() => gate.Held == 1, "the batch is held in its run");
        var queued = Client.PostAsync("/v2/models/full/infer", Rows(1));
        await WaitUntilAsync(() => scheduler.QueueLength == 1);
        return (running, queued);
    }
}

/// <summary>The same overload behaviour with a thread per connection (<c>Maas:Inference:HttpTransport=threads</c>).</summary>
public sealed class OverloadOnConnectionThreadsTests : OverloadTests
{
    protected override IReadOnlyDictionary<string, string?> Settings =>
        new Dictionary<string, string?> { ["Maas:Inference:HttpTransport"] = "threads" };
}
