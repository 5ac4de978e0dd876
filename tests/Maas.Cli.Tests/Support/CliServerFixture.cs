using Maas.Client;
using Maas.Server.Tests.Support;

namespace Maas.Cli.Tests.Support;

/// <summary>
/// One real MaaS server on 127.0.0.1 for every CLI and client test, with the first-start demo models (the ONNX
/// classifier and the plumbing LLM) and a loopback file host for imports.
/// </summary>
public sealed class CliServerFixture : IAsyncLifetime
{
    /// <summary>The running server (its admin key is <see cref="MaasTestServer.AdminKey"/>).</summary>
    public MaasTestServer Server { get; private set; } = null!;

    /// <summary>A host for files to import (on loopback, which the server is told to allow).</summary>
    public LoopbackFileServer Files { get; private set; } = null!;

    /// <summary>A typed client with the admin key.</summary>
    public MaasClient Client { get; private set; } = null!;

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        Files = await LoopbackFileServer.StartAsync();
        Server = await MaasTestServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Maas:Inference:Demo"] = "true",
            ["Maas:Llm:Demo"] = "true",
            ["Maas:Llm:Slots"] = "2",
            ["Maas:Llm:ContextPerSlot"] = "256",
            ["Maas:Llm:Threads"] = "1",
            ["Maas:Registry:ImportAllowPrivateNetworks"] = "true", // the import source is on loopback
            ["Maas:Training:PollMilliseconds"] = "100", // training, optimisation and fine-tuning jobs start at once
            ["Maas:FineTuning:Window"] = "256", // a generated base fine-tunes in seconds
            ["Maas:FineTuning:LearningRate"] = "0.01",
        });
        Client = new MaasClient(Server.BaseAddress, MaasTestServer.AdminKey);
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        await Files.DisposeAsync();
    }

    /// <summary>Runs the CLI against this server with the admin key (or <paramref name="apiKey"/>).</summary>
    public Task<CliRun> RunAsync(params string[] args) => CliRunner.RunAsync(args, Environment(MaasTestServer.AdminKey));

    /// <summary>Runs the CLI against this server with <paramref name="apiKey"/>.</summary>
    public Task<CliRun> RunWithKeyAsync(string apiKey, params string[] args) => CliRunner.RunAsync(args, Environment(apiKey));

    /// <summary>Runs the CLI against this server with the admin key; <paramref name="onLine"/> sees each stdout line as it is printed.</summary>
    public Task<CliRun> RunWatchingAsync(Action<string> onLine, params string[] args) => CliRunner.RunAsync(args, Environment(MaasTestServer.AdminKey), onLine: onLine);

    /// <summary>Runs the CLI with text on its stdin.</summary>
    public Task<CliRun> RunWithInputAsync(string stdin, params string[] args) => CliRunner.RunAsync(args, Environment(MaasTestServer.AdminKey), stdin);

    /// <summary>The variables that point the CLI at this server (and at no config file).</summary>
    public Dictionary<string, string?> Environment(string? apiKey) => new()
    {
        ["MAAS_URL"] = Server.BaseAddress.ToString(),
        ["MAAS_API_KEY"] = apiKey,
        ["MAAS_CONFIG"] = Path.Combine(Path.GetTempPath(), "maas-cli-tests-no-config", "config.json"),
    };
}

/// <summary>The tests that share the one server.</summary>
[CollectionDefinition(Name)]
public sealed class CliServerCollection : ICollectionFixture<CliServerFixture>
{
    /// <summary>The collection's name.</summary>
    public const string Name = "cli-server";
}
