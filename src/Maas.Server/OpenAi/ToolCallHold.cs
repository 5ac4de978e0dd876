using System.Text;
using Maas.Core.Llm;

namespace Maas.Server.OpenAi;

/// <summary>
/// Holds back each streamed choice's text while it may be a tool call: released as text as soon as it visibly is not
/// one, kept to its end once it opened with '{' (then parsed into calls, or released as text when it is none).
/// </summary>
internal sealed class ToolCallHold(int choices, ToolSelection tools)
{
    private readonly StringBuilder[] _held = [.. Enumerable.Range(0, choices).Select(_ => new StringBuilder())];
    private readonly bool[] _holding = [.. Enumerable.Repeat(true, choices)];
    private readonly bool[] _opened = new bool[choices];

    /// <summary>What of choice <paramref name="index"/> may be sent after event <paramref name="e"/>: text ("" while held) or, at its end, its tool calls.</summary>
    public (string Text, IReadOnlyList<ToolCall>? Calls) Take(int index, GenerationEvent e)
    {
        if (!_holding[index])
        {
            return (e.Text, null);
        }

        var held = _held[index];
        held.Append(e.Text);
        if (e.Finish is not null)
        {
            _holding[index] = false;
            var calls = ToolCalling.Parse(held.ToString(), tools);
            return (calls is null ? held.ToString() : "", calls);
        }

        if (!_opened[index] && ToolCalling.FirstVisible(e.Text) is { } first)
        {
            if (first == '{')
            {
                _opened[index] = true;
            }
            else
            {
                _holding[index] = false;
                return (held.ToString(), null);
            }
        }

        return ("", null);
    }
}
