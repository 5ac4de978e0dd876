using System.CommandLine;
using System.Net.Sockets;
using System.Text.Json;
using Maas.Client;
using Spectre.Console;

namespace Maas.Cli.Hosting;

/// <summary>What every command shares: the global options, the client, output in JSON or for people, and error handling.</summary>
public static class CliHost
{
    /// <summary><c>--json</c>: machine-readable output on stdout and nothing else there.</summary>
    public static readonly Option<bool> Json = new("--json") { Description = "Print the result as JSON (for scripts)", Recursive = true };

    /// <summary><c>--url</c>: the server, before MAAS_URL and the config file.</summary>
    public static readonly Option<string?> Url =
        new("--url") { Description = "Server URL (default: MAAS_URL, then the config file, then http://127.0.0.1:8080)", Recursive = true };

    /// <summary>True when the output goes to a person at a terminal (progress bars and live displays are drawn).</summary>
    public static bool Interactive => !Console.IsOutputRedirected;

    /// <summary>Sets an action that gets the parse result, a client and the cancellation token, and turns every failure into one stderr line and an exit code.</summary>
    public static void SetAction(this Command command, Func<ParseResult, MaasClient, CancellationToken, Task<int>> action) =>
        command.SetAction((parse, cancellationToken) => RunAsync(parse, cancellationToken, action));

    /// <summary>Sets an action that needs no client.</summary>
    public static void SetLocalAction(this Command command, Func<ParseResult, CancellationToken, Task<int>> action) =>
        command.SetAction((ParseResult parse, CancellationToken cancellationToken) => GuardAsync(parse, () => action(parse, cancellationToken), cancellationToken));

    /// <summary>A client for the resolved server and key.</summary>
    public static MaasClient CreateClient(ParseResult parse)
    {
        var config = CliConfig.Resolve(parse.GetValue(Url));
        if (!Uri.TryCreate(config.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            throw new CliException("invalid_url", $"the server URL '{config.Url}' is not an http(s) URL", ExitCodes.Usage);
        }

        return new MaasClient(url, config.ApiKey);
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken, Func<ParseResult, MaasClient, CancellationToken, Task<int>> action) =>
        await GuardAsync(
            parse,
            async () =>
            {
                using var client = CreateClient(parse);
                return await action(parse, client, cancellationToken);
            },
            cancellationToken);

    private static async Task<int> GuardAsync(ParseResult parse, Func<Task<int>> body, CancellationToken cancellationToken)
    {
        try
        {
            return await body();
        }
        catch (MaasApiException e)
        {
            return Fail(e.Code, e.Message, ExitCodeFor(e));
        }
        catch (CliException e)
        {
            // A usage error a command finds itself names the help to read, as the parser's own errors do.
            var help = e.Code == "usage" && !e.Message.EndsWith("--help)", StringComparison.Ordinal) ? $" (see {UsageErrors.HelpFor(parse)})" : "";
            return Fail(e.Code, e.Message + help, e.ExitCode);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Fail("interrupted", "interrupted", ExitCodes.Interrupted);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException or IOException ||
        e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
        {
            return Fail("unreachable", CliConfig.Resolve(parse.GetValue(Url)).Unreachable(e.Message), ExitCodes.Server);
        }
        catch (HttpRequestException e)
        {
            return Fail("http_error", e.Message, ExitCodes.Server);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail("io_error", e.Message, ExitCodes.Failure);
        }
        catch (JsonException e)
        {
            return Fail("invalid_json", e.Message, ExitCodes.Usage);
        }
    }

    /// <summary>
    /// Runs a deletion; a refusal that tells an API client to "pass force=true" (the route's query parameter) names the
    /// command's <c>--force</c> flag instead.
    /// </summary>
    public static async Task DeletingAsync(Func<Task> delete)
    {
        try
        {
            await delete();
        }
        catch (MaasApiException e) when (e.Message.Contains("force=true", StringComparison.Ordinal))
        {
            throw new MaasApiException(e.Status, e.Code, e.Message.Replace("force=true", "--force", StringComparison.Ordinal), e.Body);
        }
    }

    /// <summary>The exit code for a server's error: by its status, but a stream cut before its end as a server failure, whatever status began it.</summary>
    public static int ExitCodeFor(MaasApiException e) => e.Code == "stream_incomplete" ? ExitCodes.Server : ExitCodes.ForStatus(e.Status);

    /// <summary>Writes the one error line (<c>error: CODE: message</c>) to stderr and returns the exit code.</summary>
    public static int Fail(string code, string message, int exitCode)
    {
        Console.Out.Flush();
        Console.Error.WriteLine($"error: {code}: {message.ReplaceLineEndings(" ")}");
        return exitCode;
    }

    /// <summary>True when the command asked for JSON.</summary>
    public static bool WantsJson(this ParseResult parse) => parse.GetValue(Json);

    /// <summary>Prints <paramref name="value"/> as indented JSON on stdout.</summary>
    public static void PrintJson<T>(T value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, MaasJson.Indented));

    /// <summary>Prints JSON when asked, else lets <paramref name="human"/> print for people; returns <see cref="ExitCodes.Ok"/>.</summary>
    public static int Print<T>(ParseResult parse, T value, Action<T> human)
    {
        if (parse.WantsJson())
        {
            PrintJson(value);
        }
        else
        {
            human(value);
        }

        return ExitCodes.Ok;
    }

    /// <summary>A table with the given columns (headers in bold).</summary>
    public static Table Table(params string[] columns)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var column in columns)
        {
            table.AddColumn(new TableColumn($"[bold]{Markup.Escape(column)}[/]"));
        }

        return table;
    }

    /// <summary>Adds a row of plain text (escaped, so brackets in names print as they are).</summary>
    public static Table Row(this Table table, params object?[] cells)
    {
        table.AddRow(cells.Select(c => Markup.Escape(Format(c))).ToArray());
        return table;
    }

    /// <summary>A value as a person reads it.</summary>
    public static string Format(object? value) => value switch
    {
        null => "",
        DateTimeOffset time => time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
        double d => d.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture),
        IEnumerable<string> list => string.Join(", ", list),
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };

    /// <summary>A byte count as a person reads it.</summary>
    public static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{bytes} B" : value.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) + " " + units[unit];
    }
}
