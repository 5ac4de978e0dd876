using System.Diagnostics;
using System.Text.Json.Nodes;
using Maas.Cli.Tests.Support;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Cli.Tests;

/// <summary>
/// The two ways the issue names to run the CLI: <c>dotnet run --project src/Maas.Cli -- COMMAND</c>, and <c>maas
/// COMMAND</c> once installed as a .NET tool from a local package source (docs/cli.md), each against the real server.
/// </summary>
[Collection(CliServerCollection.Name)]
public sealed class InstallTests(CliServerFixture fixture) : IDisposable
{
    private readonly TempDirectory _work = new("maas-cli-install");

    public void Dispose() => _work.Dispose();

    private static string Project => Path.Combine(SharedModels.RepoRoot, "src", "Maas.Cli", "Maas.Cli.csproj");

    // The configuration the CLI was built in with these tests (its bin folder), so nothing is built again here.
    private static string Configuration => Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(CliRunner.CliDll()))!);

    [Fact]
    public async Task Dotnet_run_of_the_project_runs_a_command_against_the_server()
    {
        var run = await RunAsync("dotnet", ["run", "--project", Project, "--no-build", "-c", Configuration, "--", "models", "list", "--json"]);
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}\n{run.Output}\n{run.Error}");
        Assert.Contains("demo-classifier", JsonNode.Parse(run.Output)!.AsArray().Select(m => (string?)m!["name"]));
    }

    [Fact]
    public async Task The_packed_tool_installs_from_a_local_source_and_runs_as_maas()
    {
        // A version of its own and a package folder of its own: never an older package of the same version from a cache.
        var version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}";
        var feed = Path.Combine(_work.Path, "feed");
        var pack = await RunAsync("dotnet", ["pack", Project, "--no-build", "-c", Configuration, "-o", feed, $"-p:PackageVersion={version}"]);
        Assert.True(pack.ExitCode == 0, $"dotnet pack: exit {pack.ExitCode}\n{pack.Output}\n{pack.Error}");
        Assert.True(File.Exists(Path.Combine(feed, $"maas.{version}.nupkg")), string.Join(", ", Directory.GetFiles(feed)));

        // Only the local source: the install works offline.
        var nugetConfig = Path.Combine(_work.Path, "nuget.config");
        await File.WriteAllTextAsync(nugetConfig, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        var tools = Path.Combine(_work.Path, "tools");
        var install = await RunAsync("dotnet", ["tool", "install", "maas", "--version", version, "--tool-path", tools, "--configfile", nugetConfig], ownPackages: true);
        Assert.True(install.ExitCode == 0, $"dotnet tool install: exit {install.ExitCode}\n{install.Output}\n{install.Error}");

        var maas = Path.Combine(tools, OperatingSystem.IsWindows() ? "maas.exe" : "maas");
        var list = await RunAsync(maas, ["models", "list", "--json"]);
        Assert.True(list.ExitCode == 0, $"maas models list: exit {list.ExitCode}\n{list.Output}\n{list.Error}");
        Assert.Contains("demo-classifier", JsonNode.Parse(list.Output)!.AsArray().Select(m => (string?)m!["name"]));

        // The installed command fails as the built one does: non-zero, one line on stderr with the server's code.
        var missing = await RunAsync(maas, ["models", "show", "no-such-model"]);
        Assert.Equal(4, missing.ExitCode);
        Assert.StartsWith("error: model_not_found: ", Assert.Single(missing.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    private async Task<ChildProcessResult> RunAsync(string program, string[] args, bool ownPackages = false)
    {
        var info = new ProcessStartInfo(program) { UseShellExecute = false, WorkingDirectory = _work.Path };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in fixture.Environment(MaasTestServer.AdminKey))
        {
            info.Environment[name] = value;
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        if (ownPackages)
        {
            info.Environment["NUGET_PACKAGES"] = Path.Combine(_work.Path, "packages");
        }

        // The installed tool's launcher finds the runtime of the dotnet that runs these tests.
        if (DotnetRoot() is { } root)
        {
            info.Environment["DOTNET_ROOT"] = root;
        }

        return await ChildProcess.RunAsync(info, TimeSpan.FromMinutes(4));
    }

    private static string? DotnetRoot()
    {
        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet")).FirstOrDefault(File.Exists);
        if (onPath is null)
        {
            return Environment.GetEnvironmentVariable("DOTNET_ROOT");
        }

        var target = new FileInfo(onPath).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? onPath;
        return Path.GetDirectoryName(target);
    }
}
