using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Maas.Testing;

namespace Maas.Cli.Tests.Support;

/// <summary>What one run of the CLI did: its exit code and everything it wrote.</summary>
public sealed record CliRun(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>The lines written to stderr (empty lines left out).</summary>
    public string[] ErrorLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Stdout parsed as JSON; the failure message shows the run.</summary>
    public JsonNode Json()
    {
        Assert.True(ExitCode == 0, $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}");
        try
        {
            return JsonNode.Parse(Stdout) ?? throw new InvalidOperationException("null JSON");
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"stdout is not JSON ({e.Message}):\n{Stdout}\nstderr: {Stderr}", e);
        }
    }

    /// <summary>Checks a failure: the exit code, and exactly one stderr line that names the server's error code.</summary>
    public string AssertFailure(int exitCode, string code)
    {
        Assert.True(ExitCode == exitCode, $"expected exit {exitCode}, got {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}");
        var line = Assert.Single(ErrorLines);
        Assert.StartsWith($"error: {code}: ", line);
        return line;
    }

    /// <inheritdoc />
    public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
}

/// <summary>Runs the built CLI (<c>dotnet maas.dll ...</c>) as a child process, as a user or a script would.</summary>
public static class CliRunner
{
    /// <summary>The built CLI assembly: next to the tests (the project reference copies it) or in src/Maas.Cli/bin.</summary>
    public static string CliDll()
    {
        var local = Path.Combine(AppContext.BaseDirectory, "maas.dll");
        if (File.Exists(local) && File.Exists(Path.Combine(AppContext.BaseDirectory, "maas.runtimeconfig.json")))
        {
            return local;
        }

        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var built = Path.Combine(SharedModels.RepoRoot, "src", "Maas.Cli", "bin", configuration, "net10.0", "maas.dll");
        return File.Exists(built) ? built : throw new FileNotFoundException("maas.dll not found; build src/Maas.Cli first", built);
    }

    /// <summary>
    /// Runs <c>maas args</c> with <paramref name="environment"/> (null removes a variable) and waits for it (3 minutes
    /// at most); <paramref name="onLine"/> sees each stdout line as the CLI prints it, <paramref name="onText"/> each
    /// piece of stdout as it arrives (also a line not yet ended, such as a streamed answer).
    /// </summary>
    public static async Task<CliRun> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string?> environment, string? stdin = null, Action<string>? onLine = null,
        Action<string>? onText = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(CliDll());
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment.Remove("MAAS_URL");
        info.Environment.Remove("MAAS_API_KEY");
        info.Environment.Remove("MAAS_CONFIG");
        foreach (var (name, value) in environment)
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
        var stdout = onText is not null ? ReadTextAsync(process.StandardOutput, onText)
            : onLine is null ? process.StandardOutput.ReadToEndAsync() : ReadLinesAsync(process.StandardOutput, onLine);
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"maas {string.Join(' ', args)} did not end in 3 minutes:\n{await stdout}\n{await stderr}");
        }

        return new CliRun(process.ExitCode, await stdout, await stderr);
    }

    private static async Task<string> ReadTextAsync(StreamReader reader, Action<string> onText)
    {
        var all = new StringBuilder();
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            var piece = new string(buffer, 0, read);
            all.Append(piece);
            onText(piece);
        }

        return all.ToString();
    }

    private static async Task<string> ReadLinesAsync(StreamReader reader, Action<string> onLine)
    {
        var all = new StringBuilder();
        while (await reader.ReadLineAsync() is { } line)
        {
            all.Append(line).Append('\n');
            onLine(line);
        }

        return all.ToString();
    }
}
