namespace Maas.Optimization;

/// <summary>A request the caller got wrong: a stable code and a message naming what is accepted.</summary>
public sealed class OptimizationRequestException(string code, string message) : Exception(message)
{
    /// <summary>The stable error code.</summary>
    public string Code { get; } = code;
}
