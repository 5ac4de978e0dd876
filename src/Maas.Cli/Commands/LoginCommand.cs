using System.CommandLine;
using System.Net.Sockets;
using Maas.Cli.Hosting;
using Maas.Client;
using Maas.Client.Tenancy;
using Spectre.Console;

namespace Maas.Cli.Commands;

/// <summary><c>maas login</c>: checks a server URL and key and keeps them in the owner-only config file.</summary>
public static class LoginCommand
{
    /// <summary>The <c>login</c> command.</summary>
    public static Command Create()
    {
        var url = new Argument<string?>("server")
        {
            Description = "Server URL (default: --url, MAAS_URL, the config file, http://127.0.0.1:8080)",
            Arity = ArgumentArity.ZeroOrOne
        };
        var keyStdin = new Option<bool>("--key-stdin") { Description = "Read the API key from stdin (else MAAS_API_KEY, else a prompt)" };
        var command = new Command("login", "Save the server URL and API key in the config file (checked against the server first)") { url, keyStdin };
        command.SetLocalAction(async (parse, ct) =>
        {
            var server = parse.GetValue(url) ?? CliConfig.Resolve(parse.GetValue(CliHost.Url)).Url!;

            // A URL that cannot work is refused before a key is asked for or read.
            if (!Uri.TryCreate(server, UriKind.Absolute, out var address) || address.Scheme is not ("http" or "https"))
            {
                throw new CliException("invalid_url", $"the server URL '{server}' is not an http(s) URL", ExitCodes.Usage);
            }

            string? key;
            if (parse.GetValue(keyStdin))
            {
                key = (await Console.In.ReadToEndAsync(ct)).Trim();
                if (key.Length == 0)
                {
                    // The generic advice below would tell the user to pass --key-stdin, which they did.
                    throw new CliException("missing_api_key", "--key-stdin: no API key was read from standard input (pipe it in: maas login --key-stdin < KEYFILE)",
                        ExitCodes.Auth);
                }
            }
            else if (Environment.GetEnvironmentVariable("MAAS_API_KEY") is { Length: > 0 } fromEnvironment)
            {
                key = fromEnvironment.Trim();
            }
            else if (!Console.IsInputRedirected)
            {
                key = AnsiConsole.Prompt(new TextPrompt<string>("API key:").Secret());
            }
            else
            {
                key = null;
            }

            if (string.IsNullOrWhiteSpace(key))
            {
                throw new CliException("missing_api_key", "no API key: pass --key-stdin, set MAAS_API_KEY or run 'maas login' at a terminal", ExitCodes.Auth);
            }

            using var client = new MaasClient(address, key);
            CallerInfo me;
            try
            {
                me = await client.MeAsync(ct);
            }
            catch (HttpRequestException e) when (e.InnerException is SocketException or IOException ||
            e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
            {
                // The generic message names the URL of --url, MAAS_URL or the config file, not the one being logged in to.
                throw new CliException("unreachable", $"cannot reach the server at {address}: {e.Message}", ExitCodes.Server);
            }

            var config = new CliConfig(server.TrimEnd('/'), key);
            config.Save();
            var result = new { url = config.Url, config = Path.GetFullPath(CliConfig.FilePath), key_id = me.KeyId, key_name = me.KeyName, tenant = me.Tenant, scopes = me.Scopes };
            return CliHost.Print(parse, result, r =>
                Console.Out.WriteLine($"logged in to {r.url} as key '{r.key_name}' ({r.key_id}) of tenant {r.tenant} with {string.Join(", ", r.scopes)}; saved in {r.config}"));
        });
        return command;
    }
}
