using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Core.Formats.Onnx;

namespace Maas.Bench;

/// <summary>
/// Serving throughput while a training job runs on the same server (issue #15: at least 0.8x of it without one):
/// an MLP called by 4 clients over REST, measured idle, while a Fashion-MNIST CNN job trains, and idle again. The job's
/// training speed (optimiser steps per second, from its reported step) is measured alone and while serving, to show
/// what yielding to serving (Maas:Training:ServingShare: the default, or --server-env Maas__Training__ServingShare=X) costs training.
/// </summary>
internal static class TrainingServingScenario
{
    private const int Callers = 4;
    private const string FashionMnist = "/usr/share/datasets/fashion-mnist";

    /// <summary>Runs the scenario with training at normal priority and with <c>Maas:Training:Nice=10</c>.</summary>
    public static async Task RunAsync(BenchOptions options)
    {
        var results = new JsonObject();
        // MAAS_BENCH_TRAINING_NICE=10 runs one nice value only (quicker comparisons of settings).
        var nices = int.TryParse(Environment.GetEnvironmentVariable("MAAS_BENCH_TRAINING_NICE"), CultureInfo.InvariantCulture, out var only) ? new[] { only } : [0, 10];
        foreach (var nice in nices)
        {
            results[$"nice_{nice}"] = await RunAsync(options, nice);
        }

        if (options.Write && results.Count > 0 && results.Any(r => r.Value is not null))
        {
            Directory.CreateDirectory(Path.Combine(options.RepoRoot, "bench", "results"));
            await File.WriteAllTextAsync(Path.Combine(options.RepoRoot, "bench", "results", "training-serving.json"),
                results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
    }

    private static async Task<JsonObject?> RunAsync(BenchOptions options, int nice)
    {
        if (!File.Exists(Path.Combine(FashionMnist, "train-images-idx3-ubyte.gz")))
        {
            Console.WriteLine($"training-serving: skipped, no Fashion-MNIST under {FashionMnist} (Debian's dataset-fashion-mnist)");
            return null;
        }

        var load = LoadAverage();
        await using var server = await ServerProcess.StartAsync(options, null, ["--Maas:Training:PollMilliseconds=100", $"--Maas:Training:Nice={nice}"], options.ServerEnvironment);
        var mlp = OnnxModelWriter.Mlp(512, [1024, 1024], 10, seed: 42).ToBytes();
        await server.RegisterAsync("mlp-serving", mlp, new { max_batch_size = 32, instance_count = 1, threads = 1 });
        var random = new Random(1);
        var row = new byte[512 * 4];
        for (var i = 0; i < 512; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan(i * 4), random.NextSingle());
        }

        var call = Clients.RestBinary(server.Http, "mlp-serving", "input", [1, 512], row);
        await UploadDatasetAsync(server.Client);

        var rows = new List<(string Phase, Measurement Result)>();
        var steps = new List<(double Alone, double Serving)>();
        for (var round = 1; round <= options.Rounds; round++)
        {
            rows.Add(("idle", await LoadGenerator.RunAsync("idle", Callers, options.Seconds, call)));
            var job = await StartJobAsync(server.Client);
            var alone = await StepsPerSecondAsync(server.Client, job, () => Task.Delay(TimeSpan.FromSeconds(options.Seconds)));
            Measurement? measured = null;
            var serving = await StepsPerSecondAsync(server.Client, job, async () => measured = await LoadGenerator.RunAsync("training", Callers, options.Seconds, call));
            rows.Add(("training", measured!));
            steps.Add((alone, serving));
            var state = await server.Client.GetFromJsonAsync<JsonObject>($"/api/v1/training/jobs/{job}");
            if ((string?)state!["status"] != "running")
            {
                throw new InvalidOperationException($"the training job was not running throughout the measurement: {state.ToJsonString()}");
            }

            (await server.Client.PostAsync($"/api/v1/training/jobs/{job}/cancel", null)).EnsureSuccessStatusCode();
            await WaitAsync(server.Client, job, s => s is "cancelled" or "failed" or "succeeded");
        }

        rows.Add(("idle", await LoadGenerator.RunAsync("idle", Callers, options.Seconds, call)));
        var idle = Median(rows.Where(r => r.Phase == "idle").Select(r => r.Result.PerSecond));
        var training = Median(rows.Where(r => r.Phase == "training").Select(r => r.Result.PerSecond));
        var stepsAlone = Median(steps.Select(s => s.Alone));
        var stepsServing = Median(steps.Select(s => s.Serving));
        var loadEnd = LoadAverage();
        Console.WriteLine($"training-serving: {Callers} clients, MLP 512-1024-1024-10 (1 instance x 1 thread), {Environment.ProcessorCount} cores, Maas:Training:Threads " +
            $"default, Maas:Training:Nice={nice}, Maas:Training:ServingShare {ShareText(options)}");
        Console.WriteLine($"  load average (1 min) at start {load}, at end {loadEnd}");
        foreach (var (phase, result) in rows)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {phase,-8} {result.PerSecond,8:F0} calls/s  p50 {result.P50Ms,6:F2} ms  p99 {result.P99Ms,7:F2} ms  errors {result.Errors}"));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  median idle {idle:F0} calls/s, while training {training:F0} calls/s: {training / idle:F2}x (target at least 0.8x)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  training steps/s alone " +
            $"{string.Join(", ", steps.Select(s => s.Alone.ToString("F1", CultureInfo.InvariantCulture)))}; while serving " +
            $"{string.Join(", ", steps.Select(s => s.Serving.ToString("F1", CultureInfo.InvariantCulture)))}; medians {stepsAlone:F1} and {stepsServing:F1}: training keeps " +
            $"{stepsServing / stepsAlone:F2}x while serving"));
        var report = new JsonObject
        {
            ["benchmark"] = "training-serving",
            ["when"] = DateTimeOffset.UtcNow.ToString("u", CultureInfo.InvariantCulture),
            ["cores"] = Environment.ProcessorCount,
            ["clients"] = Callers,
            ["seconds"] = options.Seconds,
            ["rounds"] = new JsonArray([.. rows.Select(r =>
            new JsonObject { ["phase"] = r.Phase, ["per_second"] = r.Result.PerSecond, ["p50_ms"] = r.Result.P50Ms, ["p99_ms"] = r.Result.P99Ms, ["errors"] = r.Result.Errors })]),
            ["idle_per_second"] = idle,
            ["training_per_second"] = training,
            ["ratio"] = training / idle,
            ["nice"] = nice,
            ["serving_share"] = ShareText(options),
            ["training_steps_per_second_alone"] = stepsAlone,
            ["training_steps_per_second_serving"] = stepsServing,
            ["load_average_start"] = load,
            ["load_average_end"] = loadEnd,
        };
        return report;
    }

    // The training images and labels as one IDX zip (20 000 images: enough for epochs that outlast a measurement).
    private static async Task UploadDatasetAsync(HttpClient client)
    {
        (await client.PostAsJsonAsync("/api/v1/datasets", new { name = "fashion" })).EnsureSuccessStatusCode();
        using var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, count) in new[] { ("train-images-idx3-ubyte", 20_000), ("train-labels-idx1-ubyte", 20_000) })
            {
                await using var gzip = new GZipStream(File.OpenRead(Path.Combine(FashionMnist, name + ".gz")), CompressionMode.Decompress);
                using var raw = new MemoryStream();
                await gzip.CopyToAsync(raw);
                var bytes = raw.ToArray();
                var dims = bytes[3];
                var perItem = 1;
                for (var d = 1; d < dims; d++)
                {
                    perItem *= BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + (4 * d)));
                }

                var header = 4 + (4 * dims);
                var kept = bytes[..(header + (count * perItem))];
                BinaryPrimitives.WriteInt32BigEndian(kept.AsSpan(4), count);
                await using var entry = archive.CreateEntry(name).Open();
                await entry.WriteAsync(kept);
            }
        }

        var content = new ByteArrayContent(zip.ToArray());
        content.Headers.ContentType = new("application/octet-stream");
        content.Headers.Add("X-Maas-Filename", "fashion.zip");
        var response = await client.PostAsync("/api/v1/datasets/fashion/versions", content);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"uploading the dataset: {await response.Content.ReadAsStringAsync()}");
        }
    }

    // A job that trains far longer than a measurement; returns once it is training (its first batches done).
    private static async Task<string> StartJobAsync(HttpClient client)
    {
        var response = await client.PostAsJsonAsync("/api/v1/training/jobs", new
        {
            model = "fashion-cnn",
            dataset = "fashion",
            task = "image-classification",
            label = "label",
            hyperparameters = new { epochs = 100, batch_size = 32 },
        });
        var body = await response.Content.ReadFromJsonAsync<JsonObject>();
        var id = (string?)body?["id"] ?? throw new InvalidOperationException($"starting the training job: {body?.ToJsonString()}");
        await WaitAsync(client, id, s => s == "running");

        // Running includes reading and splitting the dataset: wait a little into the epochs.
        await Task.Delay(TimeSpan.FromSeconds(5));
        return id;
    }

    private static async Task WaitAsync(HttpClient client, string id, Func<string?, bool> done)
    {
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (true)
        {
            var state = await client.GetFromJsonAsync<JsonObject>($"/api/v1/training/jobs/{id}");
            var status = (string?)state!["status"];
            if (done(status))
            {
                return;
            }

            if (status is "failed" or "cancelled" or "succeeded" || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"training job {id}: {state.ToJsonString()}");
            }

            await Task.Delay(200);
        }
    }

    // The job's optimiser steps per second while `phase` runs, from the step it reports (at most a second old at either end).
    private static async Task<double> StepsPerSecondAsync(HttpClient client, string job, Func<Task> phase)
    {
        async Task<long> StepAsync() => (long?)(await client.GetFromJsonAsync<JsonObject>($"/api/v1/training/jobs/{job}"))!["iteration"] ?? 0;
        var before = await StepAsync();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await phase();
        var after = await StepAsync();
        return (after - before) / clock.Elapsed.TotalSeconds;
    }

    // The share is set with --server-env Maas__Training__ServingShare=X (the server reads its environment).
    private static string ShareText(BenchOptions options) => options.ServerEnvironment.TryGetValue("Maas__Training__ServingShare", out var share) ? share : "default";

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }
}
