using Maas.Server;
using Maas.Server.Hosting;
using Maas.Server.Training;

// "worker": a training worker without the HTTP server, against the same database and artifact store.
if (args is ["worker", ..])
{
    return await TrainingWorkerHost.RunAsync(args[1..]);
}

try
{
    var app = MaasApp.Create(args);
    ConfigurationErrors.Validate(app.Services); // before the host starts, so a bad setting is one line, not a stack trace
    app.Run();
    return 0;
}
catch (Exception ex) when (ConfigurationErrors.Describe(ex) is { Count: > 0 } problems)
{
    foreach (var problem in problems)
    {
        Console.Error.WriteLine($"maas: configuration: {problem}");
    }

    Console.Error.WriteLine("maas: not started; see docs/configuration.md");
    return ConfigurationErrors.ExitCode;
}
