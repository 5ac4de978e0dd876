using Spectre.Console;

namespace Maas.Cli.Hosting;

/// <summary>
/// What a <c>show</c> command prints about one thing: a line per field, the label in bold and padded to the longest
/// label, each line only as long as its own value. A grid padded every line to its widest value, so one long
/// description or result made every line that long.
/// </summary>
public sealed class FieldList
{
    private readonly List<(string Label, string Value)> _rows = [];

    /// <summary>Adds a field; the value is formatted as <see cref="CliHost.Format"/> does (empty when null).</summary>
    public void Add(string label, object? value) => _rows.Add((label, CliHost.Format(value)));

    /// <summary>The lines, without markup (what <see cref="Write"/> prints, bar the bold).</summary>
    public IEnumerable<string> Lines()
    {
        var width = _rows.Count == 0 ? 0 : _rows.Max(r => r.Label.Length);
        return _rows.Select(r => $"{r.Label.PadRight(width)}  {r.Value}".TrimEnd());
    }

    /// <summary>Prints the lines to standard output.</summary>
    public void Write()
    {
        foreach (var (line, (label, _)) in Lines().Zip(_rows))
        {
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(label)}[/]{Markup.Escape(line[label.Length..])}");
        }
    }
}
