using System.Text.RegularExpressions;

namespace Maas.Core.Registry;

/// <summary>The naming rules for models, aliases, relations and artifact file names.</summary>
public static partial class RegistryNames
{
    /// <summary>The longest model or alias name.</summary>
    public const int MaxNameLength = 64;

    /// <summary>The longest artifact file path (relative, with folders).</summary>
    public const int MaxFileNameLength = 255;

    /// <summary>The pattern a model and alias name must match.</summary>
    public const string NamePattern = "[a-z0-9][a-z0-9._-]{0,63}";

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9._ +=@-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex FileSegmentRegex();

    /// <summary>True when <paramref name="name"/> is a valid model or alias name.</summary>
    public static bool IsValidName(string? name) =>
        name is not null && NameRegex().IsMatch(name) && !name.Contains("..", StringComparison.Ordinal);

    /// <summary>Throws <see cref="RegistryException"/> (invalid_name) unless <paramref name="name"/> is valid.</summary>
    public static void ValidateName(string? name, string what = "model")
    {
        if (!IsValidName(name))
        {
            throw RegistryException.Invalid(
                "invalid_name",
                $"'{Shorten(name)}' is not a valid {what} name: use 1 to {MaxNameLength} characters from a-z, 0-9, '.', '_' and '-', starting with a letter or digit, and no '..'");
        }
    }

    /// <summary>
    /// Checks an artifact file path such as "model.onnx" or "weights/layer0.bin": relative, no "..", no empty
    /// or hidden segments, no backslashes; so it can never name a file outside the version's own folder.
    /// </summary>
    public static bool IsValidFilePath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path.Length > MaxFileNameLength || path.Contains('\\') || path.Contains('\0'))
        {
            return false;
        }

        foreach (var segment in path.Split('/'))
        {
            if (segment is "" or "." or ".." || !FileSegmentRegex().IsMatch(segment))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Throws <see cref="RegistryException"/> (invalid_filename) unless <paramref name="path"/> is a safe relative file path.</summary>
    public static void ValidateFilePath(string? path)
    {
        if (!IsValidFilePath(path))
        {
            throw RegistryException.Invalid(
                "invalid_filename",
                $"'{Shorten(path)}' is not a valid artifact file name: use a relative path of letters, digits, '.', '_', '-', '+', '=', '@' and spaces, " +
                $"segments separated by '/', no '..', at most {MaxFileNameLength} characters");
        }
    }

    /// <summary>
    /// The index of the first control character free text may not hold (C0 other than tab, line feed and carriage
    /// return, and DEL), or -1: nothing a person reads, and an ESC or NUL in a description or note breaks the terminals,
    /// logs and files it is printed to.
    /// </summary>
    public static int IndexOfControl(string? text)
    {
        if (text is null)
        {
            return -1;
        }

        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is (< ' ' and not ('\t' or '\n' or '\r')) or '\u007f')
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>What is wrong with free text <paramref name="field"/> holding a control character at <paramref name="index"/>.</summary>
    public static string ControlMessage(string field, string text, int index) =>
        $"{field} has a control character (U+{(int)text[index]:X4}) at position {index}; free text may hold tab, line feed and carriage return but no other control character";

    /// <summary>Cuts a caller's value for an error message, so a huge value does not make a huge error.</summary>
    public static string Shorten(string? value) =>
        value is null ? "" : value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 77), "...");

    /// <summary>
    /// The first <paramref name="shown"/> names, comma-separated, then "and N more" when there are more, so a cut list does
    /// not read as whole; "none" when there are none.
    /// </summary>
    public static string FirstOf(IEnumerable<string> names, int shown = 20)
    {
        var all = names.ToList();
        if (all.Count == 0)
        {
            return "none";
        }

        var first = string.Join(", ", all.Take(shown));
        return all.Count > shown ? $"{first} and {all.Count - shown} more" : first;
    }
}
