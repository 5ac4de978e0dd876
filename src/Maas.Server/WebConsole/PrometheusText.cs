using System.Globalization;

namespace Maas.Server.WebConsole;

/// <summary>Reads the Prometheus text exposition format (0.0.4) back into samples: the exporter's own output.</summary>
public static class PrometheusText
{
    /// <summary>The samples of <paramref name="text"/> whose names <paramref name="wanted"/> accepts (comments and bad lines skipped).</summary>
    public static List<PrometheusSample> Parse(string text, Func<string, bool> wanted)
    {
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.AsSpan().EnumerateLines())
        {
            var line = raw.Trim();
            if (line.IsEmpty || line[0] == '#')
            {
                continue;
            }

            var nameEnd = line.IndexOfAny('{', ' ');
            if (nameEnd <= 0)
            {
                continue;
            }

            var name = line[..nameEnd].ToString();
            if (!wanted(name))
            {
                continue;
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            var rest = line[nameEnd..];
            if (rest[0] == '{')
            {
                var end = ReadLabels(rest, labels);
                if (end < 0)
                {
                    continue;
                }

                rest = rest[(end + 1)..];
            }

            rest = rest.Trim();
            var space = rest.IndexOf(' ');
            var number = space < 0 ? rest : rest[..space]; // a timestamp may follow the value
            if (TryParseValue(number, out var value))
            {
                samples.Add(new PrometheusSample(name, labels, value));
            }
        }

        return samples;
    }

    // Reads {a="x",b="y\"z"} into labels; returns the index of the closing brace, or -1 when malformed.
    private static int ReadLabels(ReadOnlySpan<char> text, Dictionary<string, string> labels)
    {
        var i = 1;
        while (i < text.Length)
        {
            if (text[i] == '}')
            {
                return i;
            }

            if (text[i] == ',' || text[i] == ' ')
            {
                i++;
                continue;
            }

            var eq = text[i..].IndexOf('=');
            if (eq < 0 || i + eq + 1 >= text.Length || text[i + eq + 1] != '"')
            {
                return -1;
            }

            var key = text.Slice(i, eq).ToString();
            i += eq + 2;
            var value = new System.Text.StringBuilder();
            while (i < text.Length && text[i] != '"')
            {
                if (text[i] == '\\' && i + 1 < text.Length)
                {
                    i++;
                    value.Append(text[i] == 'n' ? '\n' : text[i]);
                }
                else
                {
                    value.Append(text[i]);
                }

                i++;
            }

            if (i >= text.Length)
            {
                return -1;
            }

            labels[key] = value.ToString();
            i++;
        }

        return -1;
    }

    private static bool TryParseValue(ReadOnlySpan<char> text, out double value)
    {
        switch (text)
        {
            case "+Inf":
                value = double.PositiveInfinity;
                return true;
            case "-Inf":
                value = double.NegativeInfinity;
                return true;
            case "NaN":
                value = double.NaN;
                return true;
            default:
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }
    }
}
