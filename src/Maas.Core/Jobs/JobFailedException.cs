namespace Maas.Core.Jobs;

/// <summary>An error a job's work throws to fail with a stable code.</summary>
public sealed class JobFailedException(string code, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The stable error code.</summary>
    public string Code { get; } = code;
}
