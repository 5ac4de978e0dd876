namespace Maas.Training;

/// <summary>The rows of one split as ML.NET reads them: a quoted TSV file and its loader columns.</summary>
internal sealed record SplitFile(string Path, IReadOnlyList<int> Rows);
