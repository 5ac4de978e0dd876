namespace Maas.Cli.Hosting;

/// <summary>A failure the CLI itself detects, reported like a server error: one line with a code, and an exit code.</summary>
public sealed class CliException(string code, string message, int exitCode = ExitCodes.Failure) : Exception(message)
{
    /// <summary>The stable code printed before the message.</summary>
    public string Code { get; } = code;

    /// <summary>The process exit code.</summary>
    public int ExitCode { get; } = exitCode;
}
