using System.CommandLine;
using System.Diagnostics;
using Maas.Cli.Hosting;

namespace Maas.Cli.Commands;

/// <summary>
/// <c>maas serve [-- server options]</c>: runs the MaaS server in the foreground. It starts a built
/// <c>Maas.Server.dll</c> (<c>--server-dll</c> or <c>MAAS_SERVER_DLL</c>), else <c>dotnet run --project src/Maas.Server</c>
/// of the repository that holds the current folder or this tool.
/// </summary>
public static class ServeCommand
{
    /// <summary>The <c>serve</c> command.</summary>
    public static Command Create()
    {
        var dll = new Option<FileInfo?>("--server-dll") { Description = "A built Maas.Server.dll to run (default: MAAS_SERVER_DLL, else the repository's src/Maas.Server)" };
        var rest = new Argument<string[]>("server-options") { Description = "Options for the server after --, e.g. -- --urls http://127.0.0.1:9000", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("serve", "Run the MaaS server in the foreground") { dll, rest };
        command.SetLocalAction(async (parse, ct) =>
        {
            var info = new ProcessStartInfo("dotnet") { UseShellExecute = false };
            var serverDll = parse.GetValue(dll)?.FullName ?? Environment.GetEnvironmentVariable("MAAS_SERVER_DLL");
            if (!string.IsNullOrEmpty(serverDll))
            {
                if (!File.Exists(serverDll))
                {
                    throw new CliException("server_not_found", $"no server assembly at {serverDll}");
                }

                info.ArgumentList.Add(serverDll);
            }
            else
            {
                var project = FindProject(Directory.GetCurrentDirectory()) ?? FindProject(AppContext.BaseDirectory)
                    ?? throw new CliException("server_not_found", "cannot find the server: run from the MaaS repository, or pass --server-dll (or MAAS_SERVER_DLL) with a built Maas.Server.dll");
                info.ArgumentList.Add("run");
                info.ArgumentList.Add("--project");
                info.ArgumentList.Add(project);
                info.ArgumentList.Add("--");
            }

            foreach (var argument in parse.GetValue(rest) ?? [])
            {
                info.ArgumentList.Add(argument);
            }

            using var process = Process.Start(info) ?? throw new CliException("server_not_started", "dotnet did not start");
            try
            {
                await process.WaitForExitAsync(ct);
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C reached the server too (same process group); give it its graceful shutdown.
                if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
                {
                    process.Kill(entireProcessTree: true);
                }

                return ExitCodes.Interrupted;
            }

            return process.ExitCode;
        });
        return command;
    }

    private static string? FindProject(string start)
    {
        for (var folder = new DirectoryInfo(start); folder is not null; folder = folder.Parent)
        {
            var project = Path.Combine(folder.FullName, "src", "Maas.Server", "Maas.Server.csproj");
            if (File.Exists(project))
            {
                return project;
            }
        }

        return null;
    }
}
