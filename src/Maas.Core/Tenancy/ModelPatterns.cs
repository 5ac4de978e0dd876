using Maas.Core.Registry;

namespace Maas.Core.Tenancy;

/// <summary>The model names a key may use: exact names or globs with <c>*</c> (any run) and <c>?</c> (one character).</summary>
/// <remarks>
/// A pattern without '/' matches a model's name in any tenant (<c>faces*</c>); a pattern with '/' matches the
/// qualified <c>owner/name</c> (<c>acme/*</c>, <c>*/faces</c>). Wildcards never match the '/'. Patterns only narrow
/// what the key's tenant may see anyway: they never open another tenant's private model.
/// </remarks>
public static class ModelPatterns
{
    /// <summary>The longest pattern accepted.</summary>
    public const int MaxLength = 128;

    /// <summary>True when <paramref name="pattern"/> is a model name, or a glob of name characters and wildcards, with at most one '/' between owner and name.</summary>
    public static bool IsValid(string? pattern)
    {
        if (string.IsNullOrEmpty(pattern) || pattern.Length > MaxLength)
        {
            return false;
        }

        var slash = pattern.IndexOf('/', StringComparison.Ordinal);
        if (slash == 0 || slash == pattern.Length - 1 || (slash > 0 && pattern.IndexOf('/', slash + 1) >= 0))
        {
            return false;
        }

        foreach (var c in pattern)
        {
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-' or '*' or '?' or '/'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// True when the model matches one of <paramref name="patterns"/> (none means all). <paramref name="model"/> is
    /// <c>owner/name</c>, or a bare name (which only patterns without '/' can match).
    /// </summary>
    public static bool Allows(IReadOnlyList<string> patterns, string model)
    {
        if (patterns.Count == 0)
        {
            return true;
        }

        var name = model.AsSpan(model.IndexOf('/', StringComparison.Ordinal) + 1);
        for (var i = 0; i < patterns.Count; i++)
        {
            var pattern = patterns[i];
            if (pattern.Contains('/', StringComparison.Ordinal) ? Matches(pattern, model) : Matches(pattern, name))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The model name in a reference (<c>m</c>, <c>m:alias</c>, <c>m/versions/3</c>), or the text itself when it is none.</summary>
    public static string ModelNameOf(string reference) =>
        ModelReference.TryParse(reference, out var parsed) ? parsed.Model : reference;

    /// <summary>Glob match with backtracking over the last <c>*</c> (linear in practice, no regex); wildcards do not match '/'.</summary>
    public static bool Matches(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && ((pattern[p] == '?' && text[t] != '/') || pattern[p] == text[t]))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (star >= 0 && text[mark] != '/')
            {
                p = star + 1;
                t = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
