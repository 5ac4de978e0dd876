using System.Diagnostics;
using System.Text.RegularExpressions;
using Maas.Testing;

namespace Maas.Console.Tests;

/// <summary>
/// The console's build as <c>dotnet build</c> runs it (build/Console.targets): from the lock file alone, with no
/// registry reachable, into the same files every time, and those are the files the server serves.
/// </summary>
public sealed partial class ConsoleBuildTests(ConsoleServingTests.Server server) : IClassFixture<ConsoleServingTests.Server>, IDisposable
{
    private readonly string _work = Path.Combine(Path.GetTempPath(), "maas-console-build-" + Guid.NewGuid().ToString("N")[..8]);

    private static string Sources => Path.Combine(SharedModels.RepoRoot, "src", "Maas.Console");

    public void Dispose()
    {
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    [NodeFact]
    public async Task Builds_offline_from_the_lock_file_into_the_same_files_the_server_serves()
    {
        // A clean copy of the sources: no node_modules, nothing built.
        var copy = Path.Combine(_work, "console");
        foreach (var file in new[] { "package.json", "package-lock.json", "build.mjs", "tsconfig.json" })
        {
            Directory.CreateDirectory(copy);
            File.Copy(Path.Combine(Sources, file), Path.Combine(copy, file));
        }

        CopyFolder(Path.Combine(Sources, "src"), Path.Combine(copy, "src"));
        CopyFolder(Path.Combine(Sources, "static"), Path.Combine(copy, "static"));

        // Offline, and with no way out: the packages can only come from npm's cache, as the lock file pins them.
        var install = await RunAsync(copy, "npm", "ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error");
        Assert.True(install.ExitCode == 0, $"npm ci --offline: exit {install.ExitCode}\n{install.Output}\n{install.Error}");

        var first = Path.Combine(_work, "first");
        var second = Path.Combine(_work, "second");
        foreach (var output in new[] { first, second })
        {
            var build = await RunAsync(copy, ConsoleRun.Node!, "build.mjs", output);
            Assert.True(build.ExitCode == 0, $"node build.mjs: exit {build.ExitCode}\n{build.Output}\n{build.Error}");
        }

        // Reproducible: two builds give the same names (content hashes) and the same bytes.
        var files = Files(first);
        Assert.Equal(files, Files(second));
        foreach (var file in files)
        {
            Assert.True(File.ReadAllBytes(Path.Combine(first, file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(second, file))), $"{file} differs between two builds");
        }

        // And they are what the server built into itself and serves: the page and every bundle it names, byte for byte.
        using var anonymous = new HttpClient { BaseAddress = server.BaseAddress };
        var page = await anonymous.GetStringAsync("/");
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(first, "index.html")), page);
        var bundles = Bundle().Matches(page).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(2, bundles.Count);
        foreach (var bundle in bundles)
        {
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(first, bundle.TrimStart('/'))), await anonymous.GetByteArrayAsync(bundle));
        }

        // No CDN: nothing the page or its bundles load comes from another origin.
        Assert.DoesNotMatch(ExternalUrl(), page);
    }

    private static List<string> Files(string folder) =>
        [.. Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(folder, f).Replace('\\', '/')).Order(StringComparer.Ordinal)];

    private static void CopyFolder(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private static async Task<ChildProcessResult> RunAsync(string folder, string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { WorkingDirectory = folder, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // Any request npm might still make goes through a proxy on a closed port, so it fails rather than downloads.
        info.Environment["npm_config_proxy"] = "http://127.0.0.1:9/";
        info.Environment["npm_config_https_proxy"] = "http://127.0.0.1:9/";
        info.Environment["npm_config_update_notifier"] = "false";
        return await ChildProcess.RunAsync(info, TimeSpan.FromMinutes(5));
    }

    [GeneratedRegex("(?:src|href)=\"(/ui/(?:app|style)-[A-Z0-9]{8}\\.(?:js|css))\"")]
    private static partial Regex Bundle();

    [GeneratedRegex("(?:src|href)=\"(?:https?:)?//")]
    private static partial Regex ExternalUrl();
}

/// <summary>A fact that needs node and npm on the PATH (they build the console); skipped with the reason when absent.</summary>
public sealed class NodeFactAttribute : FactAttribute
{
    public NodeFactAttribute()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator);
        if (ConsoleRun.Node is null || !path.Any(dir => File.Exists(Path.Combine(dir, "npm"))))
        {
            Skip = "needs node and npm on the PATH (they build the console)";
        }
    }
}
