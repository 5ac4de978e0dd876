namespace Maas.Core.Llm;

/// <summary>Finds stop strings in streamed text that arrives in token-sized pieces, across piece boundaries.</summary>
/// <remarks>
/// Text that could be the start of a stop string is held back until the next piece decides it, so a client never
/// sees part of a stop string. Once a stop string is found, everything from it on is dropped.
/// </remarks>
public sealed class StopSequenceMatcher
{
    private readonly string[] _stops;
    private string _held = "";

    /// <summary>Creates a matcher for the given stop strings (empty strings are ignored).</summary>
    public StopSequenceMatcher(IEnumerable<string> stops)
    {
        _stops = stops.Where(s => s.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>True once a stop string was found; later pieces are ignored.</summary>
    public bool Stopped { get; private set; }

    /// <summary>The stop string that ended the text, when <see cref="Stopped"/>.</summary>
    public string? MatchedStop { get; private set; }

    /// <summary>Characters held back because they may begin a stop string.</summary>
    public int HeldLength => _held.Length;

    /// <summary>Adds a piece of text and returns what may be released now.</summary>
    public string Push(string piece)
    {
        if (Stopped)
        {
            return "";
        }

        if (_stops.Length == 0)
        {
            return piece;
        }

        var text = _held.Length == 0 ? piece : _held + piece;
        var first = -1;
        string? match = null;
        foreach (var stop in _stops)
        {
            // Only the held part plus the new piece can contain a new match: released text was checked before.
            var at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first))
            {
                first = at;
                match = stop;
            }
        }

        if (match is not null)
        {
            Stopped = true;
            MatchedStop = match;
            _held = "";
            return text[..first];
        }

        var hold = HoldBack(text);
        _held = text[(text.Length - hold)..];
        return text[..(text.Length - hold)];
    }

    /// <summary>Releases what is still held (the generation ended without the stop string completing).</summary>
    public string Flush()
    {
        var rest = Stopped ? "" : _held;
        _held = "";
        return rest;
    }

    // The longest suffix of text that is a proper prefix of some stop string.
    private int HoldBack(string text)
    {
        var best = 0;
        foreach (var stop in _stops)
        {
            var max = Math.Min(stop.Length - 1, text.Length);
            for (var k = max; k > best; k--)
            {
                if (string.CompareOrdinal(text, text.Length - k, stop, 0, k) == 0)
                {
                    best = k;
                    break;
                }
            }
        }

        return best;
    }
}
