using System.Diagnostics;
using System.Text.RegularExpressions;
using Maas.Storage.Artifacts;

namespace Maas.Storage.Tests.Support;

/// <summary>
/// An s3rver process (an S3-compatible server from npm) on a free loopback port with a fresh bucket, for the S3
/// artifact store tests. MAAS_TEST_S3RVER names its s3rver.js; <c>.ci/s3rver.sh</c> installs it.
/// </summary>
public sealed partial class S3rver : IAsyncLifetime
{
    /// <summary>The variable with the path of s3rver.js.</summary>
    public const string Variable = "MAAS_TEST_S3RVER";

    /// <summary>The bucket the server is started with.</summary>
    public const string Bucket = "maas-test";

    private readonly TempFolder _folder = new();
    private Process? _process;

    /// <summary>s3rver.js, or null when it is not installed.</summary>
    public static string? Script
    {
        get
        {
            var fromEnv = Environment.GetEnvironmentVariable(Variable);
            var candidate = !string.IsNullOrEmpty(fromEnv)
                ? fromEnv
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "maas", "tools", "s3rver", "node_modules", "s3rver", "bin", "s3rver.js");
            return File.Exists(candidate) ? candidate : null;
        }
    }

    /// <summary>Why S3 tests are skipped, or null when they can run.</summary>
    public static string? SkipReason => Script is null
        ? $"S3 store tests need s3rver: run `source <(bash .ci/s3rver.sh)` (it sets {Variable})"
        : null;

    /// <summary>The endpoint, e.g. http://127.0.0.1:41234.</summary>
    public string ServiceUrl { get; private set; } = "";

    /// <summary>Store options for this server with a key prefix of its own.</summary>
    public S3StoreOptions Options(string prefix) => new()
    {
        ServiceUrl = ServiceUrl,
        Bucket = Bucket,
        Prefix = prefix,
        AccessKey = "S3RVER",
        SecretKey = "S3RVER",
        ForcePathStyle = true,
        PartSizeBytes = 5L << 20, // The smallest S3 allows, so a modest file already goes multipart.
    };

    [GeneratedRegex(@"listening on ([0-9.]+):(\d+)")]
    private static partial Regex Listening();

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        if (Script is not { } script)
        {
            return;
        }

        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { script, "-d", _folder.Path, "-a", "127.0.0.1", "-p", "0", "--silent", "--configure-bucket", Bucket })
        {
            info.ArgumentList.Add(arg);
        }

        _process = Process.Start(info) ?? throw new InvalidOperationException("node did not start");
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && Listening().Match(line) is { Success: true } m)
            {
                listening.TrySetResult($"http://{m.Groups[1].Value}:{m.Groups[2].Value}");
            }
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        ServiceUrl = await listening.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_process is not null)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
            _process.Dispose();
        }

        _folder.Dispose();
    }
}

/// <summary>A fact that needs s3rver; skipped with the reason when it is not installed.</summary>
public sealed class S3FactAttribute : FactAttribute
{
    /// <summary>Sets the skip reason when s3rver is missing.</summary>
    public S3FactAttribute()
    {
        Skip = S3rver.SkipReason;
    }
}
