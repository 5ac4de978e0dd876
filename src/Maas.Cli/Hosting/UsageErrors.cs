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
