using System.ComponentModel.DataAnnotations;

namespace Maas.Server.WebConsole;

/// <summary>The web console at / and the metrics history its charts read.</summary>
public sealed class ConsoleOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string Section = "Maas:Console";

    /// <summary>Serve the console at / and /ui/ (the API is unaffected when off).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Seconds between two samples of the server's own metrics for the console's charts.</summary>
    [Range(1, 300)]
    public int SampleSeconds { get; set; } = 5;

    /// <summary>Seconds of metrics history kept in memory (the charts' time range).</summary>
    [Range(60, 86400)]
    public int HistorySeconds { get; set; } = 3600;
}
