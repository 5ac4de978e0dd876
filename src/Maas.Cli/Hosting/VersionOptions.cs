using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Maas.Cli.Hosting;

/// <summary>
/// Number options and arguments whose values the server refuses outside a range (a version number, a page size, a
/// temperature): checked when the command line is parsed, before anything is sent, and refused as usage errors.
/// </summary>
public static class VersionOptions
{
    /// <summary>
    /// Accepts only version numbers (1, 2, ...) for <paramref name="option"/>. Checked locally because the server
    /// would say so only after the request: for a push, after the whole file was uploaded.
    /// </summary>
    public static Option<int?> VersionNumber(this Option<int?> option)
    {
        option.Validators.Add(result => CheckVersion(result, option.Name));
        return option;
    }

    /// <summary>Accepts only version numbers (1, 2, ...) for <paramref name="argument"/>.</summary>
    public static Argument<int?> VersionNumber(this Argument<int?> argument)
    {
        argument.Validators.Add(result => CheckVersion(result, $"<{argument.Name}>"));
        return argument;
    }

    /// <summary>Accepts only version numbers (1, 2, ...) for <paramref name="argument"/>.</summary>
    public static Argument<int> VersionNumber(this Argument<int> argument)
    {
        argument.Validators.Add(result => CheckVersion(result, $"<{argument.Name}>"));
        return argument;
    }

    /// <summary>
    /// Accepts only a name the registry takes for an alias (1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or
    /// digit, no '..'). Checked locally where the server would say so only after the request: a push sets its alias
    /// once the whole file was uploaded, and a refused alias left a new version without it.
    /// </summary>
    public static Option<string?> AliasName(this Option<string?> option)
    {
        option.Validators.Add(result =>
        {
            if (result.Tokens is [{ Value: var text }]
                && (text.Length is 0 or > 64 || !char.IsAsciiLetterLower(text[0]) && !char.IsAsciiDigit(text[0])
                    || !text.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-') || text.Contains("..", StringComparison.Ordinal)))
            {
                result.AddError($"{option.Name}: '{text}' is not an alias name (1 to 64 characters from a-z, 0-9, '.', '_' and '-', starting with a letter or digit, no '..')");
            }
        });
        return option;
    }

    /// <summary>Accepts only <paramref name="min"/> to <paramref name="max"/> for <paramref name="option"/>, the range the server takes.</summary>
    public static Option<T> Between<T>(this Option<T> option, long min, long max)
    {
        option.Validators.Add(result =>
        {
            if (Whole(result) is (var text, var value) && (value < min || value > max))
            {
                result.AddError($"{option.Name}: '{text}' is out of range ({min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)})");
            }
        });
        return option;
    }

    /// <summary>
    /// Accepts only <paramref name="min"/> to <paramref name="max"/> for a decimal <paramref name="option"/> (above
    /// <paramref name="min"/> when <paramref name="aboveMin"/>), the range the server takes.
    /// </summary>
    public static Option<double?> Within(this Option<double?> option, double min, double max, bool aboveMin = false)
    {
        option.Validators.Add(result =>
        {
            if (result.Tokens is [{ Value: var text }]
                && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
                && (double.IsNaN(value) || (aboveMin ? value <= min : value < min) || value > max))
            {
                var range = aboveMin
                    ? $"above {min.ToString(CultureInfo.InvariantCulture)} up to {max.ToString(CultureInfo.InvariantCulture)}"
                    : $"{min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}";
                result.AddError($"{option.Name}: '{text}' is out of range ({range})");
            }
        });
        return option;
    }

    private static void CheckVersion(SymbolResult result, string name)
    {
        if (Whole(result) is (var text, var version) && version < 1)
        {
            result.AddError($"{name}: '{text}' is not a version number (1, 2, ...)");
        }
    }

    // The one whole number given, or null (none given, or text that does not convert: UsageErrors says why).
    private static (string Text, long Value)? Whole(SymbolResult result) =>
        result.Tokens is [{ Value: var text }] && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? (text, value) : null;
}
