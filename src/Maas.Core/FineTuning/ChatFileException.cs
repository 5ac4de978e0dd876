namespace Maas.Core.FineTuning;

/// <summary>A problem in an uploaded chat file, naming its line (1-based).</summary>
public sealed class ChatFileException(int line, string message) : Exception($"line {line}: {message}")
{
    /// <summary>The line the problem is on.</summary>
    public int Line { get; } = line;
}
