using System.Globalization;
using System.Text;

namespace Maas.Core.Tests.Llm;

/// <summary>An independent reader of GBNF grammars that decides whether a text is a sentence of the grammar.</summary>
/// <remarks>
/// Covers the GBNF llama.cpp reads: literals, character classes (negated, ranges, escapes), rule references, groups,
/// alternatives and the ?, *, +, {m}, {m,}, {m,n} repetitions. Matching computes the set of end positions of each
/// node at each position (memoised), so it needs no backtracking limits for the small texts tests use.
/// </remarks>
internal sealed class GbnfRecognizer
{
    private readonly Dictionary<string, Node> _rules = [];
    private readonly Dictionary<(Node, int), HashSet<int>> _memo = [];
    private string _text = "";

    public GbnfRecognizer(string grammar)
    {
        foreach (var raw in grammar.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var at = line.IndexOf("::=", StringComparison.Ordinal);
            if (at < 0)
            {
                throw new FormatException("not a rule: " + line);
            }

            var name = line[..at].Trim();
            var parser = new Parser(line[(at + 3)..]);
            _rules[name] = parser.ParseAlternatives();
            parser.ExpectEnd();
        }

        if (!_rules.ContainsKey("root"))
        {
            throw new FormatException("no root rule");
        }

        foreach (var reference in _rules.Values.SelectMany(Walk).OfType<Ref>())
        {
            if (!_rules.ContainsKey(reference.Name))
            {
                throw new FormatException("undefined rule " + reference.Name);
            }
        }
    }

    public IReadOnlyCollection<string> RuleNames => _rules.Keys;

    public bool Accepts(string text)
    {
        _text = text;
        _memo.Clear();
        return Match(_rules["root"], 0).Contains(text.Length);
    }

    private static IEnumerable<Node> Walk(Node node)
    {
        yield return node;
        IEnumerable<Node> children = node switch
        {
            Seq s => s.Items,
            Alt a => a.Options,
            Rep r => [r.Item],
            _ => [],
        };
        foreach (var child in children.SelectMany(Walk))
        {
            yield return child;
        }
    }

    private HashSet<int> Match(Node node, int pos)
    {
        if (_memo.TryGetValue((node, pos), out var known))
        {
            return known;
        }

        _memo[(node, pos)] = []; // guards against left recursion, which GBNF grammars here never have
        HashSet<int> result = [];
        switch (node)
        {
            case Lit lit:
                if (pos + lit.Text.Length <= _text.Length && string.CompareOrdinal(_text, pos, lit.Text, 0, lit.Text.Length) == 0)
                {
                    result.Add(pos + lit.Text.Length);
                }

                break;
            case Class cls:
                if (pos < _text.Length && cls.Matches(_text[pos]))
                {
                    result.Add(pos + 1);
                }

                break;
            case Ref r:
                result = Match(_rules[r.Name], pos);
                break;
            case Alt alt:
                foreach (var option in alt.Options)
                {
                    result.UnionWith(Match(option, pos));
                }

                break;
            case Seq seq:
                HashSet<int> current = [pos];
                foreach (var item in seq.Items)
                {
                    HashSet<int> next = [];
                    foreach (var p in current)
                    {
                        next.UnionWith(Match(item, p));
                    }

                    current = next;
                }

                result = current;
                break;
            case Rep rep:
                HashSet<int> frontier = [pos];
                if (rep.Min == 0)
                {
                    result.Add(pos);
                }

                for (var i = 1; rep.Max is null || i <= rep.Max; i++)
                {
                    HashSet<int> next = [];
                    foreach (var p in frontier)
                    {
                        next.UnionWith(Match(rep.Item, p));
                    }

                    if (i > rep.Min)
                    {
                        next.ExceptWith(result); // positions already reachable add nothing new
                    }

                    if (next.Count == 0)
                    {
                        break;
                    }

                    if (i >= rep.Min)
                    {
                        result.UnionWith(next);
                    }

                    frontier = next;
                }

                break;
        }

        _memo[(node, pos)] = result;
        return result;
    }

    private abstract record Node;

    private sealed record Lit(string Text) : Node;

    private sealed record Ref(string Name) : Node;

    private sealed record Seq(List<Node> Items) : Node;

    private sealed record Alt(List<Node> Options) : Node;

    private sealed record Rep(Node Item, int Min, int? Max) : Node;

    private sealed record Class(bool Negated, List<(char From, char To)> Ranges) : Node
    {
        public bool Matches(char c) => Ranges.Any(r => c >= r.From && c <= r.To) != Negated;
    }

    private sealed class Parser(string text)
    {
        private int _pos;

        public Node ParseAlternatives()
        {
            var options = new List<Node> { ParseSequence() };
            while (Peek() == '|')
            {
                _pos++;
                options.Add(ParseSequence());
            }

            return options.Count == 1 ? options[0] : new Alt(options);
        }

        public void ExpectEnd()
        {
            SkipSpace();
            if (_pos != text.Length)
            {
                throw new FormatException($"unexpected '{text[_pos..]}'");
            }
        }

        private Node ParseSequence()
        {
            var items = new List<Node>();
            while (true)
            {
                var c = Peek();
                if (c is '\0' or '|' or ')')
                {
                    return new Seq(items);
                }

                var item = ParseAtom();
                while (true)
                {
                    var op = _pos < text.Length ? text[_pos] : '\0';
                    if (op == '?') { item = new Rep(item, 0, 1); _pos++; }
                    else if (op == '*') { item = new Rep(item, 0, null); _pos++; }
                    else if (op == '+') { item = new Rep(item, 1, null); _pos++; }
                    else if (op == '{') { item = ParseBraces(item); }
                    else { break; }
                }

                items.Add(item);
            }
        }

        private Rep ParseBraces(Node item)
        {
            var close = text.IndexOf('}', _pos);
            var inside = text[(_pos + 1)..close];
            _pos = close + 1;
            var parts = inside.Split(',');
            var min = int.Parse(parts[0], CultureInfo.InvariantCulture);
            int? max = parts.Length == 1 ? min : parts[1].Length == 0 ? null : int.Parse(parts[1], CultureInfo.InvariantCulture);
            return new Rep(item, min, max);
        }

        private Node ParseAtom()
        {
            var c = Peek();
            if (c == '"')
            {
                _pos++;
                var s = new StringBuilder();
                while (text[_pos] != '"')
                {
                    s.Append(ReadChar());
                }

                _pos++;
                return new Lit(s.ToString());
            }

            if (c == '[')
            {
                _pos++;
                var negated = text[_pos] == '^';
                if (negated)
                {
                    _pos++;
                }

                var ranges = new List<(char, char)>();
                while (text[_pos] != ']')
                {
                    var from = ReadChar();
                    var to = from;
                    if (text[_pos] == '-' && text[_pos + 1] != ']')
                    {
                        _pos++;
                        to = ReadChar();
                    }

                    ranges.Add((from, to));
                }

                _pos++;
                return new Class(negated, ranges);
            }

            if (c == '(')
            {
                _pos++;
                var inner = ParseAlternatives();
                if (Peek() != ')')
                {
                    throw new FormatException("missing )");
                }

                _pos++;
                return inner;
            }

            var start = _pos;
            while (_pos < text.Length && (char.IsAsciiLetterOrDigit(text[_pos]) || text[_pos] == '-'))
            {
                _pos++;
            }

            if (start == _pos)
            {
                throw new FormatException($"unexpected '{text[_pos..]}'");
            }

            return new Ref(text[start.._pos]);
        }

        private char ReadChar()
        {
            var c = text[_pos++];
            if (c != '\\')
            {
                return c;
            }

            var e = text[_pos++];
            switch (e)
            {
                case 'n': return '\n';
                case 'r': return '\r';
                case 't': return '\t';
                case 'x':
                    _pos += 2;
                    return (char)int.Parse(text.AsSpan(_pos - 2, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                case 'u':
                    _pos += 4;
                    return (char)int.Parse(text.AsSpan(_pos - 4, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                default: return e;
            }
        }

        private char Peek()
        {
            SkipSpace();
            return _pos < text.Length ? text[_pos] : '\0';
        }

        private void SkipSpace()
        {
            while (_pos < text.Length && text[_pos] == ' ')
            {
                _pos++;
            }
        }
    }
}
