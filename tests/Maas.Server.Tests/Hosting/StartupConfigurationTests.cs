using System.Diagnostics;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Hosting;

/// <summary>A bad setting (or an address already in use) stops the server process with one line naming the key and exit code 2.</summary>
public sealed class StartupConfigurationTests
{
    [Theory]
    [InlineData("Maas:Llm:Slots", "0", "Maas:Llm:Slots must be between 1 and 256, not 0")]
    [InlineData("Maas:FineTuning:KeptCheckpoints", "0", "Maas:FineTuning:KeptCheckpoints must be between 1 and 1000, not 0")]
    [InlineData("Maas:Llm:PromptAdmission", "sometimes", "'sometimes' at 'Maas:Llm:PromptAdmission'")]
    [InlineData("Maas:Llm:PromptAdmission", "7", "Maas:Llm:PromptAdmission must be auto, batched or staggered, not 7")]
    [InlineData("Maas:Llm:PromptChunkTokens", "0", "Maas:Llm:PromptChunkTokens must be between 1 and 65536, not 0")]
    [InlineData("Maas:Llm:QueueLimit", "many", "'many' at 'Maas:Llm:QueueLimit'")]
    [InlineData("Maas:Llm:EmbeddingQueueLimit", "-1", "Maas:Llm:EmbeddingQueueLimit must be between 0 and 1000000, not -1")]
    [InlineData("Maas:Llm:EmbeddingQueueTimeoutMs", "0", "Maas:Llm:EmbeddingQueueTimeoutMs must be between 1 and 3600000, not 0")]
    [InlineData("Maas:Inference:GrpcMaxStreamsPerConnection", "0", "Maas:Inference:GrpcMaxStreamsPerConnection must be between 1 and 10000")]
    [InlineData("Maas:Inference:HttpReceiveBlockBytes", "1000", "Maas:Inference:HttpReceiveBlockBytes must be 0 (Kestrel's pool) or between 4096 and 1048576, not 1000")]
    [InlineData("Maas:Inference:HttpTransport", "fibers", "Maas:Inference:HttpTransport must be sockets or threads")]
    [InlineData("Maas:Inference:HttpReadAheadBytes", "1024", "Maas:Inference:HttpReadAheadBytes must be between 65536 and 1073741824")]
    [InlineData("Maas:ServingLimits:MaxInstanceCount", "0", "Maas:ServingLimits:MaxInstanceCount must be between 1 and 64, not 0")]
    [InlineData("Maas:Hosting:MemoryBudgetPercent", "0", "Maas:Hosting:MemoryBudgetPercent must be between 1 and 100")]
    [InlineData("Maas:Hosting:DeletedModelCheckMs", "-1", "Maas:Hosting:DeletedModelCheckMs must be between 0 (never) and 3600000")]
    [InlineData("Maas:Inference:ResolveCacheEntries", "0", "Maas:Inference:ResolveCacheEntries must be between 1 and 10000000")]
    [InlineData("Maas:Registry:UploadSessionSweepMs", "5", "Maas:Registry:UploadSessionSweepMs must be between 100 and 86400000, not 5")]
    [InlineData("Maas:Instances:HeartbeatMs", "10", "Maas:Instances:HeartbeatMs must be between 50 and 3600000, not 10")]
    [InlineData("Maas:Instances:LapseMs", "15000", "Maas:Instances:LapseMs must be at least twice Maas:Instances:HeartbeatMs (10000), not 15000")]
    [InlineData("Maas:Llm:PromptCacheBytes", "-1", "Maas:Llm:PromptCacheBytes must be between 0 (off) and this machine's memory")]
    [InlineData("Maas:Auth:AdminKeyFile", "/", "Maas:Auth:AdminKeyFile '/' cannot be written: it is a folder")]
    [InlineData("Maas:Auth:KeyCacheSeconds", "99999999999999999999", "The field KeyCacheSeconds must be between 0 and 86400")]
    [InlineData("Maas:Registry:UploadSessionTtlHours", "99999999999999999999", "Maas:Registry:UploadSessionTtlHours must be more than 0 and at most 8760 (a year), not ")]
    [InlineData("Maas:Datasets:UploadSessionTtlHours", "0", "Maas:Datasets:UploadSessionTtlHours must be more than 0 and at most 8760 (a year), not 0")]
    [InlineData("Maas:Auth:TrustedProxies", "10.0.0.5",
        "Maas:Auth:TrustedProxies is a list: give its entries as Maas:Auth:TrustedProxies:0, Maas:Auth:TrustedProxies:1, ... (MAAS_Maas__Auth__TrustedProxies__0, ...)")]
    [InlineData("Maas:Inference:GrpcUrl", "8081", "Maas:Inference:GrpcUrl must be empty (gRPC off) or an http:// or https:// address such as http://127.0.0.1:8081")]
    [InlineData("Maas:Observability:MaxSeriesPerMetric", "-5", "The field MaxSeriesPerMetric must be between 10 and 1000000")]
    [InlineData("Maas:Observability:SeriesIdleMinutes", "-5", "The field SeriesIdleMinutes must be between 0 and 525600")]
    [InlineData("Maas:Database:ConnectionString", "not-a-setting", "Maas:Database:ConnectionString is not a sqlite connection string: ")]
    public async Task A_bad_setting_ends_the_start_with_one_line_per_problem(string key, string value, string expected)
    {
        var (exitCode, output, error) = await StartAsync("--urls", "http://127.0.0.1:0", $"--{key}={value}");

        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, exitCode);
        Assert.Contains(lines, l => l.StartsWith("maas: configuration: ", StringComparison.Ordinal) && l.Contains(expected, StringComparison.Ordinal));
        Assert.Equal("maas: not started; see docs/configuration.md", lines[^1]);
        Assert.DoesNotContain("   at ", error + output, StringComparison.Ordinal); // no stack trace
    }

    [Fact]
    public async Task A_malformed_admin_key_ends_the_start_with_one_line_that_does_not_show_it()
    {
        const string secret = "too-short-to-be-a-key";
        var (exitCode, output, error) = await StartAsync("--urls", "http://127.0.0.1:0", $"--Maas:Auth:AdminKey={secret}");

        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, exitCode);
        Assert.Contains("maas: configuration: MAAS_ADMIN_KEY (Maas:Auth:AdminKey) must be 24 to 256 characters of A-Z a-z 0-9 - _ . (its value is not shown)", lines);
        Assert.DoesNotContain(secret, error + output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error + output, StringComparison.Ordinal);
    }

    // OTLP export is set up while the host is built: its settings are checked then, with the same one-line refusal.
    [Theory]
    [InlineData("Maas:Otlp:Endpoint", "collector:4317", "Maas:Otlp:Endpoint must be an absolute http:// or https:// URL of a collector, not 'collector:4317'")]
    [InlineData("Maas:Otlp:Protocol", "thrift", "Maas:Otlp:Protocol must be grpc or http/protobuf, not 'thrift'")]
    [InlineData("Maas:Otlp:MetricIntervalSeconds", "-1", "Maas:Otlp:MetricIntervalSeconds must be between 0.1 and 86400 seconds, not -1")]
    public async Task A_bad_otlp_setting_ends_the_start_with_one_line(string key, string value, string expected)
    {
        var endpoint = key == "Maas:Otlp:Endpoint" ? value : "http://127.0.0.1:4317";
        var (exitCode, output, error) = await StartAsync("--urls", "http://127.0.0.1:0", $"--Maas:Otlp:Endpoint={endpoint}", $"--{key}={value}");

        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, exitCode);
        Assert.Contains($"maas: configuration: {expected}", lines);
        Assert.Equal("maas: not started; see docs/configuration.md", lines[^1]);
        Assert.DoesNotContain("   at ", error + output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_address_in_use_ends_the_start_with_one_line_naming_urls_not_an_unhandled_exception()
    {
        // Another process (here a plain listener) already holds the port, as a second server started by mistake would.
        using var holder = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        holder.Start();
        var address = $"http://127.0.0.1:{((System.Net.IPEndPoint)holder.LocalEndpoint).Port}";

        var (exitCode, output, error) = await StartAsync("--urls", address);

        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, exitCode);
        Assert.Contains(lines, l => l.StartsWith("maas: configuration: urls: ", StringComparison.Ordinal) && l.Contains(address, StringComparison.Ordinal)
            && l.Contains("ASPNETCORE_URLS", StringComparison.Ordinal));
        Assert.Equal("maas: not started; see docs/configuration.md", lines[^1]);
        Assert.DoesNotContain("Unhandled exception", error + output, StringComparison.Ordinal);
    }

    private static async Task<(int ExitCode, string Output, string Error)> StartAsync(params string[] arguments)
    {
        using var data = new TempDirectory("maas-bad-config");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(MaasServerProcess.ServerDll());
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["MAAS_DATA_DIR"] = data.Path;
        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }
}
