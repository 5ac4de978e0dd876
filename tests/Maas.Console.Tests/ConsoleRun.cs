using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Maas.Core.Formats.Gguf;
using Maas.Core.Formats.Onnx;
using Maas.Server;
using Maas.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using SkiaSharp;

namespace Maas.Console.Tests;

/// <summary>
/// Starts a real MaaS (in process, Kestrel on 127.0.0.1, its own data folder, the demo models, metrics sampled every
/// second) and runs e2e/console.mjs against it once; the report is kept for the tests to assert.
/// </summary>
public sealed class ConsoleRun : IAsyncLifetime
{
    /// <summary>Debian's Chromium: the only browser the tests use (never a downloaded one).</summary>
    public const string Chromium = "/usr/bin/chromium";

    /// <summary>The admin key the test server installs.</summary>
    public const string AdminKey = "maas-console-test-admin-key-0123456789";

    /// <summary>node on the PATH, or null.</summary>
    public static string? Node { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
        .Select(dir => Path.Combine(dir, "node")).FirstOrDefault(File.Exists);

    /// <summary>True when UltraFace and its sample photo are in ../shared/models.</summary>
    public static bool HasSharedModels => SharedModels.Has("ultraface-rfb-320.onnx") && SharedModels.Has("faces-sample.jpg");

    /// <summary>Where screenshots go: TestResults/ of this project (ignored by git).</summary>
    public static string OutDir { get; } = Path.Combine(SharedModels.RepoRoot, "tests", "Maas.Console.Tests", "TestResults", "console");

    private readonly string _work = Path.Combine(Path.GetTempPath(), "maas-console-" + Guid.NewGuid().ToString("N")[..8]);
    private WebApplication? _app;
    private ConsoleReport? _report;
    private Exception? _failure;

    /// <summary>The browser run's report (throws what went wrong when the run itself failed).</summary>
    public ConsoleReport Report => _report ?? throw new InvalidOperationException("the browser run failed", _failure);

    /// <summary>Fails with the scenario's detail unless it passed.</summary>
    public void AssertScenario(string name)
    {
        Assert.True(Report.Scenarios.TryGetValue(name, out var result), $"scenario {name} did not run");
        Assert.True(result.Ok, $"{name}: {result.Detail}");
    }

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        if (!File.Exists(Chromium) || Node is null)
        {
            return;
        }

        try
        {
            Directory.CreateDirectory(_work);
            var baseUrl = await StartServerAsync();

            // Over 8 MiB, so the console sends it through the resumable upload API in chunks.
            var bigModel = Path.Combine(_work, "big-mlp.onnx");
            await File.WriteAllBytesAsync(bigModel, OnnxModelWriter.Mlp(64, [1500, 1500], 10, seed: 7).ToBytes());
            var files = await TrainingFilesAsync();
            var config = Path.Combine(_work, "config.json");
            await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new Dictionary<string, string?>
            {
                ["baseUrl"] = baseUrl,
                ["adminKey"] = AdminKey,
                ["outDir"] = OutDir,
                ["chromium"] = Chromium,
                ["bigModel"] = bigModel,
                ["ultraface"] = HasSharedModels ? SharedModels.PathOf("ultraface-rfb-320.onnx") : null,
                ["faces"] = HasSharedModels ? SharedModels.PathOf("faces-sample.jpg") : null,
                ["lineCsv"] = files.LineCsv,
                ["shapesZip"] = files.ShapesZip,
                ["vstripes"] = files.Vstripes,
                ["ftBase"] = files.FineTuningBase,
                ["chats"] = files.Chats,
            }));
            var output = await RunNodeAsync(config, TimeSpan.FromMinutes(12));
            await File.WriteAllTextAsync(Path.Combine(OutDir, "report.json"), output);
            _report = JsonSerializer.Deserialize<ConsoleReport>(output, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })
                ?? throw new InvalidOperationException("the browser script printed no report");
        }
        catch (Exception e)
        {
            _failure = e;
        }
    }

    // A table for a regression, pictures of three classes in one folder each, a picture to classify, an LLM base to
    // fine-tune and its chats: each trains in seconds.
    private async Task<(string LineCsv, string ShapesZip, string Vstripes, string FineTuningBase, string Chats)> TrainingFilesAsync()
    {
        var random = new Random(3);
        var csv = new StringBuilder("x,colour,y\n");
        for (var i = 0; i < 60; i++)
        {
            var x = random.NextDouble() * 10;
            csv.Append(CultureInfo.InvariantCulture, $"{x:R},{(i % 3 == 0 ? "red" : "blue")},{(2 * x) + 1 + (random.NextDouble() * 0.2):R}\n");
        }

        var lineCsv = Path.Combine(_work, "line.csv");
        await File.WriteAllTextAsync(lineCsv, csv.ToString());

        const int size = 12;
        var (images, labels) = TinyImages.Generate(150, size, seed: 11);
        var shapesZip = Path.Combine(_work, "shapes.zip");
        await File.WriteAllBytesAsync(shapesZip, DatasetFiles.Zip([.. images.Select((image, i) => ($"{TinyImages.Classes[labels[i]]}/{i}.png", GreyPng(image, size)))]));
        var (samples, sampleLabels) = TinyImages.Generate(3, size, seed: 99);
        var vstripes = Path.Combine(_work, "vstripes.png");
        await File.WriteAllBytesAsync(vstripes, GreyPng(samples[Array.IndexOf(sampleLabels, 1)], size));

        var fineTuningBase = Path.Combine(_work, "ft-base.gguf");
        GgufLlamaModelFactory.Write(fineTuningBase, new GgufLlamaModelOptions
        {
            Name = "maas-console-ft-base",
            EmbeddingLength = 64,
            BlockCount = 2,
            HeadCount = 4,
            KeyValueHeadCount = 2,
            FeedForwardLength = 128,
            ContextLength = 1024,
            VocabularySize = 1000,
        });
        var chats = Path.Combine(_work, "chats.jsonl");
        await File.WriteAllLinesAsync(chats,
            Enumerable.Range(0, 8).Select(i => $$"""{"messages": [{"role": "user", "content": "question {{i}}"}, {"role": "assistant", "content": "ok ok ok"}]}"""));
        return (lineCsv, shapesZip, vstripes, fineTuningBase, chats);
    }

    private static byte[] GreyPng(byte[] pixels, int size)
    {
        using var bitmap = new SKBitmap(size, size);
        for (var y = 0; y < size; y++)
        {
            for (var x = 0; x < size; x++)
            {
                var v = pixels[(y * size) + x];
                bitmap.SetPixel(x, y, new SKColor(v, v, v));
            }
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private async Task<string> StartServerAsync()
    {
        var settings = new Dictionary<string, string>
        {
            ["Maas:DataDir"] = Path.Combine(_work, "data"),
            ["Maas:Auth:AdminKey"] = AdminKey,
            ["Maas:Inference:GrpcUrl"] = "",
            ["Maas:Console:SampleSeconds"] = "1",
            ["Maas:Registry:ImportAllowPrivateNetworks"] = "true",
            ["Maas:Shutdown:DrainSeconds"] = "0",
            ["Maas:Training:PollMilliseconds"] = "100", // training, optimisation and fine-tuning jobs start at once
            ["Maas:Training:Threads"] = "1", // ggml's threads spin while they wait; one is fastest on a busy machine
            ["Maas:FineTuning:Window"] = "256", // a generated base fine-tunes in seconds
            ["Maas:FineTuning:LearningRate"] = "0.01",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        var args = new List<string> { "--urls", "http://127.0.0.1:0" };
        args.AddRange(settings.Select(kv => $"--{kv.Key}={kv.Value}"));
        _app = MaasApp.Create([.. args]);
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return address.TrimEnd('/') + "/";
    }

    private static async Task<string> RunNodeAsync(string config, TimeSpan timeout)
    {
        var script = Path.Combine(SharedModels.RepoRoot, "tests", "Maas.Console.Tests", "e2e", "console.mjs");
        var run = await ChildProcess.RunAsync(new ProcessStartInfo(Node!, [script, config]) { WorkingDirectory = Path.GetDirectoryName(script)! }, timeout);
        if (run.ExitCode != 0)
        {
            throw new InvalidOperationException($"the browser script failed (exit {run.ExitCode}): {run.Error}\n{run.Output}");
        }

        return run.Output;
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _app.StopAsync(stopping.Token);
            await _app.DisposeAsync();
        }

        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
