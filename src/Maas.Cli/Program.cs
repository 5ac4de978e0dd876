using System.CommandLine;
using Maas.Cli.Commands;
using Maas.Cli.Hosting;
using Spectre.Console;

if (Console.IsOutputRedirected)
{
    // Redirected output has no width; a wide one keeps each table row and message on one line for grep and logs.
    // No escape codes either: files and pipes get plain text.
    AnsiConsole.Profile.Width = 400;
    AnsiConsole.Profile.Capabilities.Ansi = false;
    AnsiConsole.Profile.Capabilities.ColorSystem = ColorSystem.NoColors;
}

var root = new RootCommand($"maas: the MaaS command line (docs/cli.md).\n{ExitCodes.Summary}")
{
    CliHost.Json,
    CliHost.Url,
};
root.Subcommands.Add(LoginCommand.Create());
root.Subcommands.Add(ModelsCommands.Create());
root.Subcommands.Add(DeploymentsCommands.Create());
root.Subcommands.Add(TenancyCommands.Keys());
root.Subcommands.Add(TenancyCommands.Tenants());
root.Subcommands.Add(TenancyCommands.Usage());
root.Subcommands.Add(JobsCommands.Create());
root.Subcommands.Add(DatasetsCommands.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(OptimizeCommand.Create());
root.Subcommands.Add(EvaluateCommand.Create());
root.Subcommands.Add(FineTuneCommand.Create());
root.Subcommands.Add(InferCommand.Create());
root.Subcommands.Add(PredictCommand.Create());
root.Subcommands.Add(ChatCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(PsCommand.Create());
var serve = ServeCommand.Create();
root.Subcommands.Add(serve);

// No response files: "@FILE" is an option's value here (--search @FILE, --network @FILE), read by the command itself.
var parse = root.Parse(args.Length == 0 ? ["--help"] : args, new ParserConfiguration { ResponseFileTokenReplacer = null });
if (parse.Errors.Count > 0)
{
    // One line, like every other failure (an unknown word says more than a missing command); --help shows the usage.
    var error = parse.Errors.OrderBy(e => e.Message.StartsWith("Required command", StringComparison.Ordinal) ? 1 : 0).First();
    return CliHost.Fail("usage", $"{UsageErrors.Describe(error)} (see {UsageErrors.HelpFor(parse)})", ExitCodes.Usage);
}

// serve passes Ctrl+C and SIGTERM on to the server and waits for it to stop: System.CommandLine's own handling, which
// ends the command two seconds after the signal whatever it is doing, would leave the server running on its own.
return await parse.InvokeAsync(parse.CommandResult.Command == serve ? new InvocationConfiguration { ProcessTerminationTimeout = null } : null);
