namespace Maas.Cli.Hosting;

/// <summary>One progress report: the amount done and, when the work has one, a label for the bar (a job's stage).</summary>
public readonly record struct ProgressReport(long Done, string? Label);
