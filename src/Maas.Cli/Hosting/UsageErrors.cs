using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace Maas.Cli.Hosting;

/// <summary>
/// The one line for a command-line parse error. System.CommandLine names the .NET type a value failed to convert to
/// ("as expected type 'System.Nullable`1[System.Int32]'"); here every typed option and argument says instead what it
/// wanted, in the words of the command line.
/// </summary>
public static class UsageErrors
{
    /// <summary>The message for <paramref name="error"/>: a conversion failure rewritten, anything else as it is.</summary>
    public static string Describe(ParseError error)
    {
        if (error.SymbolResult is CommandResult { Command.Subcommands.Count: > 0 } group && error.Message.StartsWith("Required command", StringComparison.Ordinal))
        {
            // "maas models" alone: which words may follow says more than that one is missing.
            return $"{CommandPath(group.Command)} needs a subcommand: {string.Join(", ", group.Command.Subcommands.Select(c => c.Name))}";
        }

        var (name, type) = error.SymbolResult switch
        {
            OptionResult option => (option.Option.Name, option.Option.ValueType),
            ArgumentResult { Parent: OptionResult option } => (option.Option.Name, option.Option.ValueType),
            ArgumentResult argument => ($"<{argument.Argument.Name}>", argument.Argument.ValueType),
            _ => (null, null),
        };
        if (name is null || type is null)
        {
            return error.Message;
        }

        if (error.Message.IndexOf(OneOf, StringComparison.Ordinal) is var at and >= 0 && error.SymbolResult!.Tokens is [{ Value: var given }, ..])
        {
            // A value outside AcceptOnlyFromAmong: System.CommandLine lists the allowed ones with tabs and no option name.
            var allowed = error.Message[(at + OneOf.Length)..].Split('\t', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v => v.Trim('\''));
            return $"{name}: '{given}' is not one of {string.Join(", ", allowed)}";
        }

        type = Nullable.GetUnderlyingType(type) ?? type;
        type = type.IsArray ? type.GetElementType()! : type;
        foreach (var token in error.SymbolResult!.Tokens)
        {
            if (Problem(token.Value, type) is { } problem)
            {
                return $"{name}: '{token.Value}' {problem}";
            }
        }

        return error.Message;
    }

    private const string OneOf = "not recognized. Must be one of:";

    /// <summary>Where to read more: <c>maas models push --help</c> for the command the line got to.</summary>
    public static string HelpFor(ParseResult parse) => CommandPath(parse.CommandResult.Command) + " --help";

    // "maas models push": the command's words from the root down.
    private static string CommandPath(Command command)
    {
        var words = new List<string>();
        for (Command? at = command; at is not null; at = at.Parents.OfType<Command>().FirstOrDefault())
        {
            words.Add(at is RootCommand ? "maas" : at.Name);
        }

        words.Reverse();
        return string.Join(' ', words);
    }

    // What is wrong with text as a value of type, or null when it converts (then the error was about something else).
    private static string? Problem(string text, Type type)
    {
        if (type == typeof(int) || type == typeof(long))
        {
            var (min, max) = type == typeof(int) ? ((long)int.MinValue, (long)int.MaxValue) : (long.MinValue, long.MaxValue);
            if (!BigInteger.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var whole))
            {
                return "is not a whole number";
            }

            return whole < min || whole > max ? $"is out of range ({min} to {max})" : null;
        }

        if (type == typeof(double) || type == typeof(float) || type == typeof(decimal))
        {
            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _) ? null : "is not a number";
        }

        if (type == typeof(DateTimeOffset) || type == typeof(DateTime))
        {
            return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out _) ? null : "is not a date and time (ISO 8601, e.g. 2025-01-31T12:00:00Z)";
        }

        if (type == typeof(bool))
        {
            return bool.TryParse(text, out _) ? null : "is not true or false";
        }

        if (type.IsEnum)
        {
            return Enum.TryParse(type, text, ignoreCase: true, out _) ? null : $"is not one of {string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant()))}";
        }

        // Strings, files and folders take any text: the error is not about conversion.
        return null;
    }
}
