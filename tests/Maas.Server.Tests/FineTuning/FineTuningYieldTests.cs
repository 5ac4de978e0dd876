using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Gguf;
using Maas.Core.Hosting;
using Maas.Runtimes.Llama.Training;
using Maas.Server.Tests.Support;
using Maas.Training;
using Microsoft.Extensions.Time.Testing;

namespace Maas.Server.Tests.FineTuning;

/// <summary>
/// LLM fine-tuning gives way to serving in the same process like table and image training: the LoRA/llama_opt loop
/// asks the gate after every window, so a window that overlapped serving is followed by a wait (on a fake clock here,
/// which only the test moves), and nothing waits once serving is idle.
/// </summary>
public sealed class FineTuningYieldTests : IDisposable
{
    private readonly TempDirectory _folder = new("maas-ft-yield");
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly ServingActivity _activity = new();

    /// <inheritdoc />
    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Every_window_asks_the_gate_and_a_window_that_overlapped_serving_waits_its_share_on_the_clock()
    {
        var basePath = Path.Combine(_folder.Path, "base.gguf");
        GgufLlamaModelFactory.Write(basePath, FineTuningServer.BaseOptions);
        var gate = new RecordingGate(new ServingYieldGate(_activity, 0.5, _time));
        var done = 0;
        var options = Options(epochs: 1, gate);

        // A request holds a model (a generation) while the first windows train.
        _activity.Started();
        var training = Task.Run(() => LlamaFineTuner.Run(basePath, Chats(4), [], options, onProgress: _ => Interlocked.Increment(ref done)));
        await Conditions.WaitUntilAsync(() => gate.Inner.IsWaiting || training.IsCompleted, "the first window waits for serving", TimeSpan.FromMinutes(2));
        Assert.False(training.IsCompleted, training.Exception?.ToString());
        Assert.Equal((1, 1L), (Volatile.Read(ref done), gate.Inner.ServingBatches));

        // At share 0.5 it waits as long as the window computed: a tick short of that it still waits, then the next window trains.
        var computed = gate.Computed[0];
        Assert.True(computed > TimeSpan.Zero);
        _time.Advance(computed - TimeSpan.FromTicks(1));
        Assert.True(gate.Inner.IsWaiting);
        Assert.Equal(1, Volatile.Read(ref done));
        _time.Advance(TimeSpan.FromTicks(1));
        await Conditions.WaitUntilAsync(() => gate.Inner.IsWaiting && gate.Calls == 2 || training.IsCompleted, "the second window trains and waits", TimeSpan.FromMinutes(2));
        Assert.Equal((2, computed), (Volatile.Read(ref done), gate.Inner.Waited));

        // Serving ends during the second window's wait: the last two windows go on without the clock moving.
        _activity.Ended();
        _time.Advance(gate.Computed[1]);
        var result = await training.WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal(4, result.Windows);
        Assert.Equal((4, 4L, 2L), (gate.Calls, gate.Inner.Batches, gate.Inner.ServingBatches));
        Assert.Equal(gate.Computed[0] + gate.Computed[1], gate.Inner.Waited);
        Assert.Single(result.Epochs);
    }

    [Fact]
    public async Task Validation_windows_ask_the_gate_too_and_cancelling_ends_a_wait_at_once()
    {
        var basePath = Path.Combine(_folder.Path, "base.gguf");
        GgufLlamaModelFactory.Write(basePath, FineTuningServer.BaseOptions);
        var gate = new RecordingGate(new ServingYieldGate(_activity, 0.1, _time));
        using var cancel = new CancellationTokenSource();
        var options = Options(epochs: 3, gate);

        // The base's validation loss is measured before the first step: its window already waits for serving.
        _activity.Started();
        var training = Task.Run(() => LlamaFineTuner.Run(basePath, Chats(2), Chats(1), options, cancellationToken: cancel.Token));
        await Conditions.WaitUntilAsync(() => gate.Inner.IsWaiting || training.IsCompleted, "the validation window waits for serving", TimeSpan.FromMinutes(2));
        Assert.Equal(1, gate.Calls);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => training.WaitAsync(TimeSpan.FromMinutes(2)));
        Assert.Equal((1, TimeSpan.Zero, false), (gate.Calls, gate.Inner.Waited, gate.Inner.IsWaiting));
    }

    private static List<LlamaTrainingChat> Chats(int count) =>
        Enumerable.Range(0, count).Select(i => new LlamaTrainingChat([new("user", $"question {i}"), new("assistant", "ok ok ok")])).ToList();

    // One chat a step, in windows of 256 tokens on one thread, each window asking the gate.
    private LlamaFineTuneOptions Options(int epochs, ITrainingGate gate) => new()
    {
        Epochs = epochs,
        LearningRate = 1e-2f,
        Window = 256,
        ChatsPerStep = 1,
        Threads = 1,
        WorkFolder = Path.Combine(_folder.Path, "work"),
        Gate = gate,
    };

    /// <summary>Records what the trainer passes, then asks the real gate.</summary>
    private sealed class RecordingGate(ServingYieldGate inner) : ITrainingGate
    {
        private readonly List<TimeSpan> _computed = [];

        public ServingYieldGate Inner { get; } = inner;

        public int Calls
        {
            get
            {
                lock (_computed)
                {
                    return _computed.Count;
                }
            }
        }

        public IReadOnlyList<TimeSpan> Computed
        {
            get
            {
                lock (_computed)
                {
                    return [.. _computed];
                }
            }
        }

        public void AfterBatch(TimeSpan computed, CancellationToken cancellationToken)
        {
            lock (_computed)
            {
                _computed.Add(computed);
            }

            Inner.AfterBatch(computed, cancellationToken);
        }
    }
}

/// <summary>
/// A fine-tuning job in a real server reports that it yields while the same server answers chat completions: a
/// "yielding" event, and an epoch whose metrics count windows that overlapped serving and the time waited.
/// </summary>
public sealed class FineTuningYieldApiTests(FineTuningServer servers) : IClassFixture<FineTuningServer>
{
    [Fact]
    public async Task A_fine_tuning_job_yields_while_the_server_answers_chats()
    {
        var server = await servers.ServerAsync();
        var client = server.Client;
        var lines = new StringBuilder();
        for (var i = 0; i < 16; i++)
        {
            lines.Append($$"""{"messages": [{"role": "user", "content": "question {{i}}"}, {"role": "assistant", "content": "ok ok ok"}]}""").Append('\n');
        }

        var form = new MultipartFormDataContent { { new StringContent("fine-tune"), "purpose" } };
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(lines.ToString()));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/jsonl");
        form.Add(content, "file", "chats.jsonl");
        var file = (string)(await (await client.PostAsync("v1/files", form)).JsonAsync(HttpStatusCode.OK))["id"]!;
        var job = await (await client.PostAsync("v1/fine_tuning/jobs", Api.Json(
            $$$"""{"model": "{{{FineTuningServer.Base}}}", "training_file": "{{{file}}}", "suffix": "yield", "hyperparameters": {"n_epochs":""" +
            $$$""" 50, "batch_size": 1}}"""))).JsonAsync(HttpStatusCode.OK);
        var id = (string)job["id"]!;
        await Conditions.WaitUntilAsync(
            async () => (string?)(await (await client.GetAsync($"v1/fine_tuning/jobs/{id}")).JsonAsync(HttpStatusCode.OK))["status"] == "running",
            "the job starts running",
            TimeSpan.FromMinutes(3));

        // Chats answered while it trains (the base model, through the same model host): the job says it yields, and
        // the next epoch's metrics count windows that overlapped serving and the time it waited for it.
        var events = await Conditions.ReadUntilAsync(
            async () =>
            {
                using var chat = await client.PostAsync("v1/chat/completions", Api.Json(
                    $$"""{"model": "{{FineTuningServer.Base}}", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}"""));
                Assert.True(chat.StatusCode == HttpStatusCode.OK, $"{(int)chat.StatusCode}: {await chat.Content.ReadAsStringAsync()}\n{servers.Errors()}");
                return await EventsAsync(client, id);
            },
            all => all.Any(e => (string?)e["type"] == "metrics" && (long)e["data"]!["serving_steps"]! > 0),
            "an epoch overlaps serving",
            TimeSpan.FromMinutes(5));
        var yielding = events.First(e => e["data"] is JsonObject data && data.ContainsKey("yielding"));
        Assert.True((bool)yielding["data"]!["yielding"]!);
        Assert.Equal(0.25, (double)yielding["data"]!["serving_share"]!); // Maas:Training:ServingShare's default
        Assert.Contains("yields", (string?)yielding["message"], StringComparison.Ordinal);
        var busy = events.First(e => (string?)e["type"] == "metrics" && (long)e["data"]!["serving_steps"]! > 0)["data"]!;
        Assert.True((double)busy["yielded_seconds"]! > 0, busy.ToJsonString());

        // Still running (50 epochs): cancel it.
        Assert.Equal("running", (string?)(await (await client.GetAsync($"v1/fine_tuning/jobs/{id}")).JsonAsync(HttpStatusCode.OK))["status"]);
        (await client.PostAsync($"v1/fine_tuning/jobs/{id}/cancel", null)).EnsureSuccessStatusCode();
        Assert.Equal("cancelled", (string?)(await client.WaitForJobAsync(id, TimeSpan.FromMinutes(3), "v1/fine_tuning/jobs"))["status"]);
    }

    // Every event of the job so far, oldest first (OpenAI pages newest first).
    private static async Task<List<JsonNode>> EventsAsync(HttpClient client, string id)
    {
        var all = new List<JsonNode>();
        string? after = null;
        while (true)
        {
            var page = await (await client.GetAsync($"v1/fine_tuning/jobs/{id}/events?limit=100" + (after is null ? "" : $"&after={after}"))).JsonAsync(HttpStatusCode.OK);
            var data = page["data"]!.AsArray();
            all.AddRange(data.Select(e => e!));
            if (data.Count == 0 || page["has_more"] is JsonValue more && !(bool)more)
            {
                all.Reverse();
                return all;
            }

            after = (string)data[^1]!["id"]!;
        }
    }
}
