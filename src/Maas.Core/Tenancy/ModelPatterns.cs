using Maas.Core.Registry;

namespace Maas.Core.Tenancy;

/// <summary>The model names a key may use: exact names or globs with <c>*</c> (any run) and <c>?</c> (one character).</summary>
public static class ModelPatterns
{
    /// <summary>The longest pattern accepted.</summary>
    public const int MaxLength = 128;

    /// <summary>True when <paramref name="pattern"/> is a model name, or a glob of name characters and wildcards.</summary>
    public static bool IsValid(string? pattern)
    {
        if (string.IsNullOrEmpty(pattern) || pattern.Length > MaxLength)
        {
            return false;
        }

        foreach (var c in pattern)
        {
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-' or '*' or '?'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>True when <paramref name="model"/> (a bare model name) matches one of <paramref name="patterns"/>; none means all.</summary>
    public static bool Allows(IReadOnlyList<string> patterns, string model)
    {
        if (patterns.Count == 0)
        {
            return true;
        }

        for (var i = 0; i < patterns.Count; i++)
        {
            if (Matches(patterns[i], model))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The model name in a reference (<c>m</c>, <c>m:alias</c>, <c>m/versions/3</c>), or the text itself when it is none.</summary>
    public static string ModelNameOf(string reference) =>
        ModelReference.TryParse(reference, out var parsed) ? parsed.Model : reference;

    /// <summary>Glob match with backtracking over the last <c>*</c> (linear in practice, no regex).</summary>
    public static bool Matches(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t]))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (star >= 0)
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
