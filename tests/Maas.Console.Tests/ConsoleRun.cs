using System.Diagnostics;
using System.Text.Json;
using Maas.Core.Formats.Onnx;
using Maas.Server;
using Maas.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

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
            }));
            var output = await RunNodeAsync(config, TimeSpan.FromMinutes(4));
            await File.WriteAllTextAsync(Path.Combine(OutDir, "report.json"), output);
            _report = JsonSerializer.Deserialize<ConsoleReport>(output, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })
                ?? throw new InvalidOperationException("the browser script printed no report");
        }
        catch (Exception e)
        {
            _failure = e;
        }
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

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
