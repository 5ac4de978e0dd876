using System.Diagnostics;
using System.Text.Json.Nodes;
using Maas.Cli.Hosting;
using Maas.Cli.Tests.Support;
using Maas.Server.Tests.Support;
using Maas.Testing;

namespace Maas.Cli.Tests;

/// <summary><c>maas login</c>, where the CLI finds its server and key, its usage errors, and <c>maas serve</c>.</summary>
[Collection(CliServerCollection.Name)]
public sealed class ConfigAndServeTests(CliServerFixture fixture) : IDisposable
{
    private readonly TempDirectory _home = new("maas-cli-config");

    public void Dispose() => _home.Dispose();

    private string ConfigPath => Path.Combine(_home.Path, "maas", "config.json");

    [Fact]
    public async Task Login_saves_an_owner_only_config_that_later_commands_use_and_the_environment_overrides()
    {
        // Login with the key on stdin, no MAAS_* variables: the file is written only after the server accepted the key.
        var loginEnvironment = new Dictionary<string, string?> { ["MAAS_CONFIG"] = ConfigPath };
        var login = await CliRunner.RunAsync(["login", fixture.Server.BaseAddress.ToString(), "--key-stdin", "--json"], loginEnvironment, MaasTestServer.AdminKey + "\n");
        var json = login.Json();
        Assert.StartsWith("admin", (string?)json["key_name"]);
        Assert.True(File.Exists(ConfigPath));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(ConfigPath));
        }

        // Later commands read the file.
        var listed = await CliRunner.RunAsync(["models", "list", "--json"], loginEnvironment);
        Assert.Contains("demo-classifier", listed.Json().AsArray().Select(m => (string?)m!["name"]));

        // MAAS_URL and MAAS_API_KEY come before the file.
        var elsewhere = await CliRunner.RunAsync(["models", "list", "--json"],
            new Dictionary<string, string?> { ["MAAS_CONFIG"] = ConfigPath, ["MAAS_URL"] = "http://127.0.0.1:9" });
        var unreachable = elsewhere.AssertFailure(ExitCodes.Server, "unreachable");
        Assert.Contains("cannot reach the server at http://127.0.0.1:9 (MAAS_URL)", unreachable, StringComparison.Ordinal);
        Assert.DoesNotContain("maas serve", unreachable, StringComparison.Ordinal);
        var option = await CliRunner.RunAsync(["models", "list", "--url", "http://127.0.0.1:9"], loginEnvironment);
        Assert.Contains("at http://127.0.0.1:9 (--url)", option.AssertFailure(ExitCodes.Server, "unreachable"), StringComparison.Ordinal);
        var saved = Path.Combine(_home.Path, "saved-elsewhere.json");
        File.WriteAllText(saved, """{"url": "http://127.0.0.1:9"}""");
        var fromFile = await CliRunner.RunAsync(["models", "list"], new Dictionary<string, string?> { ["MAAS_CONFIG"] = saved });
        Assert.Contains($"at http://127.0.0.1:9 (the config file {saved})", fromFile.AssertFailure(ExitCodes.Server, "unreachable"), StringComparison.Ordinal);
        var badKey = await CliRunner.RunAsync(["models", "list", "--json"], new Dictionary<string, string?> { ["MAAS_CONFIG"] = ConfigPath, ["MAAS_API_KEY"] = "maas-wrong-key" });
        Assert.Equal(ExitCodes.Auth, badKey.ExitCode);
        Assert.Single(badKey.ErrorLines);

        // A key the server refuses is not saved.
        var refused = await CliRunner.RunAsync(["login", fixture.Server.BaseAddress.ToString(), "--key-stdin"],
            new Dictionary<string, string?> { ["MAAS_CONFIG"] = ConfigPath + ".other" }, "maas-wrong-key");
        Assert.Equal(ExitCodes.Auth, refused.ExitCode);
        Assert.False(File.Exists(ConfigPath + ".other"));
    }

    [Fact]
    public void An_unreachable_default_address_says_how_to_start_a_server_or_name_one()
    {
        // Nothing named a server (no --url, MAAS_URL or login): the CLI tried the default, and a newcomer needs to know why.
        var message = new CliConfig(CliConfig.DefaultUrl, null) { UrlSource = "the default" }.Unreachable("Connection refused");
        Assert.Equal(
            "cannot reach the server at http://127.0.0.1:8080 (the default): Connection refused; start one with 'maas serve', "
            + "or point the CLI at yours with --url, MAAS_URL or 'maas login URL'",
            message);
    }

    [Fact]
    public async Task Usage_errors_and_unknown_commands_exit_2_with_one_line()
    {
        (await fixture.RunAsync("modles", "list")).AssertFailure(ExitCodes.Usage, "usage");
        (await fixture.RunAsync("models", "push", "only-a-name")).AssertFailure(ExitCodes.Usage, "usage");
        (await fixture.RunAsync("models", "push", "x", Path.Combine(_home.Path, "missing.onnx"))).AssertFailure(ExitCodes.Failure, "file_not_found");
        var help = await fixture.RunAsync("--help");
        Assert.Equal(ExitCodes.Ok, help.ExitCode);
        Assert.Contains("models", help.Stdout);
    }

    [Fact]
    public async Task Login_with_nothing_on_stdin_says_no_key_was_read_from_it_and_saves_nothing()
    {
        var environment = new Dictionary<string, string?> { ["MAAS_CONFIG"] = ConfigPath };
        foreach (var stdin in new[] { "", " \n" })
        {
            var run = await CliRunner.RunAsync(["login", fixture.Server.BaseAddress.ToString(), "--key-stdin"], environment, stdin);
            Assert.Contains("no API key was read from standard input", run.AssertFailure(ExitCodes.Auth, "missing_api_key"));
        }

        Assert.False(File.Exists(ConfigPath));
    }

    [Fact]
    public async Task Login_names_the_url_it_could_not_reach_and_refuses_a_url_that_is_not_http_before_reading_a_key()
    {
        // MAAS_URL points at the live server; the login's own URL at a closed port. The message named MAAS_URL's.
        var environment = new Dictionary<string, string?> { ["MAAS_CONFIG"] = ConfigPath, ["MAAS_URL"] = fixture.Server.BaseAddress.ToString() };
        var closed = await CliRunner.RunAsync(["login", "http://127.0.0.1:1", "--key-stdin"], environment, MaasTestServer.AdminKey + "\n");
        Assert.Contains("cannot reach the server at http://127.0.0.1:1/", closed.AssertFailure(ExitCodes.Server, "unreachable"), StringComparison.Ordinal);

        // It was missing_api_key (exit 3) on an empty stdin, for a URL that could never work.
        var ftp = await CliRunner.RunAsync(["login", "ftp://127.0.0.1", "--key-stdin"], environment, "");
        Assert.Contains("'ftp://127.0.0.1' is not an http(s) URL", ftp.AssertFailure(ExitCodes.Usage, "invalid_url"), StringComparison.Ordinal);
        Assert.False(File.Exists(ConfigPath));
    }

    [Fact]
    public async Task A_typed_value_that_does_not_convert_names_the_option_and_what_it_wants_not_a_dotnet_type()
    {
        (string[] Args, string Message)[] cases =
        [
            (["models", "list", "--limit", "abc"], "--limit: 'abc' is not a whole number"),
            (["models", "list", "--limit", "99999999999"], "--limit: '99999999999' is out of range (-2147483648 to 2147483647)"),
            (["chat", "demo-llm", "hi", "--seed", "1.5"], "--seed: '1.5' is not a whole number"),
            (["train", "--validation", "a tenth"], "--validation: 'a tenth' is not a number"),
            (["keys", "create", "--scope", "infer", "--expires", "tomorrow"], "--expires: 'tomorrow' is not a date and time"),
            (["models", "alias", "demo-classifier", "staging", "two"], "<version>: 'two' is not a whole number"),
        ];
        foreach (var (args, message) in cases)
        {
            var line = (await fixture.RunAsync(args)).AssertFailure(ExitCodes.Usage, "usage");
            Assert.Contains(message, line);
            Assert.DoesNotContain("System.", line);
        }
    }

    [Fact]
    public async Task Serve_runs_the_server_until_stopped()
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[]
        {
            CliRunner.CliDll(), "serve", "--server-dll", Path.Combine(AppContext.BaseDirectory, "Maas.Server.dll"), "--",
            "--urls", "http://127.0.0.1:0", $"--Maas:DataDir={_home.Path}", "--Maas:Inference:Demo=false", "--Maas:Llm:Demo=false",
            "--Maas:Inference:GrpcUrl=", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information",
        })
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(info)!;
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("Now listening on: ", StringComparison.Ordinal) == true)
            {
                listening.TrySetResult(e.Data[(e.Data.IndexOf("http", StringComparison.Ordinal))..].Trim());
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var url = await listening.Task.WaitAsync(TimeSpan.FromSeconds(90));
            var key = (await File.ReadAllTextAsync(Path.Combine(_home.Path, "admin-key"))).Trim();
            var me = await CliRunner.RunAsync(["models", "list", "--json"],
                new Dictionary<string, string?> { ["MAAS_URL"] = url, ["MAAS_API_KEY"] = key, ["MAAS_CONFIG"] = ConfigPath });
            Assert.Empty(me.Json().AsArray());
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    public async Task Serve_passes_a_stop_signal_on_to_the_server_waits_for_its_graceful_stop_and_exits_with_its_code(string signal)
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // signals and /proc
        }

        // The CLI used to end two seconds after SIGTERM (System.CommandLine's limit) with 143, its server left running.
        await using var serve = ServeRun.Start(_home.Path, [], "--Maas:Shutdown:DrainSeconds=0");
        var server = await serve.WaitForServerAsync();

        await ServeRun.SignalAsync(signal, serve.Cli.Id);
        var exit = await serve.WaitForExitAsync();

        // docs/cli.md: serve exits with the server's code, 0 after a graceful stop.
        Assert.True(exit == ExitCodes.Ok, $"exit {exit}\n{serve.Output}");
        Assert.True(ServeRun.IsGone(server), $"the server (pid {server}) still runs after maas serve ended\n{serve.Output}");
        Assert.False(ServeRun.IsListening(serve.Port), $"port {serve.Port} still accepts connections");
        Assert.Contains("Application is shutting down", serve.Output);
    }

    [Theory]
    [InlineData("TERM")]
    [InlineData("KILL")]
    public async Task Serve_from_a_clone_runs_the_server_through_dotnet_run_and_a_stop_reaches_it(string signal)
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // signals and /proc
        }

        // No --server-dll: the fallback, dotnet run --project src/Maas.Server, stands between the CLI and the server, so
        // a signal passed on (or the parent-death signal after SIGKILL) reaches dotnet run, which must pass it on again.
        await using var serve = ServeRun.StartFromRepository(_home.Path, "--Maas:Shutdown:DrainSeconds=0");
        var server = await serve.WaitForServerAsync();

        await ServeRun.SignalAsync(signal, serve.Cli.Id);
        var exit = await serve.WaitForExitAsync();

        await Conditions.WaitUntilAsync(() => ServeRun.IsGone(server), $"the server (pid {server}) stops after maas serve got SIG{signal}", TimeSpan.FromSeconds(120));
        Assert.False(ServeRun.IsListening(serve.Port), $"port {serve.Port} still accepts connections");
        Assert.Contains("Application is shutting down", serve.Output);
        if (signal == "TERM")
        {
            Assert.True(exit == ExitCodes.Ok, $"exit {exit}\n{serve.Output}");
        }
    }

    [Fact]
    public async Task Serve_kills_a_server_that_does_not_stop_within_the_stop_timeout_and_exits_with_its_code()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // A server that drains for 300 s before it closes its listener, and one second to stop.
        await using var serve = ServeRun.Start(_home.Path, ["--stop-timeout", "1"], "--Maas:Shutdown:DrainSeconds=300");
        var server = await serve.WaitForServerAsync();

        await ServeRun.SignalAsync("TERM", serve.Cli.Id);
        var exit = await serve.WaitForExitAsync();

        Assert.True(exit == 137, $"exit {exit}\n{serve.Output}"); // the server's own code: killed (128 + SIGKILL)
        Assert.Contains("error: server_killed: the server did not stop within 1 s of SIGTERM (--stop-timeout); it was killed", serve.Output);
        Assert.Contains("draining for 300s", serve.Output); // it had the signal, and was stopping
        Assert.True(ServeRun.IsGone(server), $"the server (pid {server}) still runs after maas serve ended\n{serve.Output}");
        Assert.False(ServeRun.IsListening(serve.Port), $"port {serve.Port} still accepts connections");
    }

    [Fact]
    public async Task Serve_killed_outright_leaves_no_server_running()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // SIGKILL cannot be caught: the server learns of it from the kernel (a parent-death signal, SIGTERM) and stops.
        await using var serve = ServeRun.Start(_home.Path, [], "--Maas:Shutdown:DrainSeconds=0");
        var server = await serve.WaitForServerAsync();

        await ServeRun.SignalAsync("KILL", serve.Cli.Id);
        await serve.WaitForExitAsync();

        await Conditions.WaitUntilAsync(() => ServeRun.IsGone(server), $"the server (pid {server}) stops after maas serve was killed", TimeSpan.FromSeconds(120));
        Assert.False(ServeRun.IsListening(serve.Port), $"port {serve.Port} still accepts connections");
        Assert.Contains("Application is shutting down", serve.Output);
    }

    [Fact]
    public async Task Serve_refuses_a_stop_timeout_out_of_range()
    {
        foreach (var value in new[] { "0", "3901" })
        {
            var line = (await CliRunner.RunAsync(["serve", "--stop-timeout", value], new Dictionary<string, string?>())).AssertFailure(ExitCodes.Usage, "usage");
            Assert.Contains($"--stop-timeout: '{value}' is out of range (1 to 3900)", line);
        }
    }
}
