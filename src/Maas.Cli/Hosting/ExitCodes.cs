using System.Net;

namespace Maas.Cli.Hosting;

/// <summary>The exit codes scripts can rely on (listed in docs/cli.md).</summary>
public static class ExitCodes
{
    /// <summary>The command did what it was asked.</summary>
    public const int Ok = 0;

    /// <summary>Any other failure (a 4xx the other codes do not cover, a local file problem).</summary>
    public const int Failure = 1;

    /// <summary>The command line is wrong (unknown command or option, missing argument, bad value).</summary>
    public const int Usage = 2;

    /// <summary>No key, a refused key (401) or a key without the scope (403).</summary>
    public const int Auth = 3;

    /// <summary>What was named does not exist (404).</summary>
    public const int NotFound = 4;

    /// <summary>Conflict with the current state (409): exists already, in use, finished.</summary>
    public const int Conflict = 5;

    /// <summary>A limit was hit (413 too large, 429 rate limit, quota or full queue).</summary>
    public const int Limit = 6;

    /// <summary>The server failed (5xx) or could not be reached.</summary>
    public const int Server = 7;

    /// <summary>A job the command waited for failed or was cancelled.</summary>
    public const int JobFailed = 8;

    /// <summary>
    /// An optimisation whose gate rejected the new version: the job succeeded and the version is registered as
    /// rejected, but a script that asked for a usable version did not get one.
    /// </summary>
    public const int Rejected = 9;

    /// <summary>The exit codes in one line, for <c>maas --help</c>.</summary>
    public const string Summary = "Exit codes: 0 ok, 1 other failure (400), 2 usage, 3 authentication (401/403), 4 not found (404), 5 conflict (409), "
        + "6 limit (413/429), 7 server failed or unreachable, 8 a followed job failed or was cancelled, 9 an optimisation the gate rejected, 130 interrupted.";

    /// <summary>Interrupted (Ctrl+C), as shells report SIGINT.</summary>
    public const int Interrupted = 130;

    /// <summary>The exit code for an HTTP error status.</summary>
    public static int ForStatus(HttpStatusCode status) => (int)status switch
    {
        401 or 403 => Auth,
        404 => NotFound,
        409 or 412 => Conflict,
        413 or 429 => Limit,
        >= 500 => Server,
        _ => Failure,
    };
}
