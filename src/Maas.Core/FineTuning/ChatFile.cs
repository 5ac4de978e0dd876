using System.Text.Json;
using Maas.Core.Registry;

namespace Maas.Core.FineTuning;

/// <summary>
/// OpenAI's chat fine-tuning format: JSON Lines, each line <c>{"messages": [{"role", "content"}, ...]}</c> with at
/// least one assistant message. Checked whole on upload, so a job never starts on a file that cannot train.
/// </summary>
public static class ChatFile
{
    /// <summary>The roles a training chat may use.</summary>
    public static readonly IReadOnlySet<string> Roles = new HashSet<string>(StringComparer.Ordinal) { "system", "user", "assistant" };

    /// <summary>Parses and checks every line; blank lines are skipped.</summary>
    /// <exception cref="ChatFileException">The first problem, with its line number.</exception>
    public static List<IReadOnlyList<ChatFileMessage>> Parse(ReadOnlySpan<byte> content, int maxExamples)
    {
        var chats = new List<IReadOnlyList<ChatFileMessage>>();
        var line = 0;
        // A UTF-8 byte order mark (Windows editors save "UTF-8" with one) is not part of the first line's JSON.
        if (content.StartsWith("\uFEFF"u8))
        {
            content = content[3..];
        }

        while (!content.IsEmpty)
        {
            line++;
            var end = content.IndexOf((byte)'\n');
            var text = end < 0 ? content : content[..end];
            content = end < 0 ? default : content[(end + 1)..];
            if (text.Trim(" \t\r"u8).IsEmpty)
            {
                continue;
            }

            if (chats.Count == maxExamples)
            {
                throw new ChatFileException(line, $"the file has more than {maxExamples} examples (Maas:FineTuning:MaxExamples)");
            }

            chats.Add(ParseLine(text, line));
        }

        if (chats.Count == 0)
        {
            throw new ChatFileException(Math.Max(line, 1), "the file has no examples: each line must be a JSON object {\"messages\": [...]}");
        }

        return chats;
    }

    private static List<ChatFileMessage> ParseLine(ReadOnlySpan<byte> text, int line)
    {
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(text, new JsonReaderOptions { MaxDepth = 16 });
            document = JsonDocument.ParseValue(ref reader);
            if (reader.BytesConsumed != text.TrimEnd(" \t\r"u8).Length)
            {
                throw new ChatFileException(line, "there is text after the JSON object; put one example per line");
            }
        }
        catch (JsonException e)
        {
            throw new ChatFileException(line, $"not valid JSON ({e.Message})");
        }

        using (document)
        {
            try
            {
                return Messages(document.RootElement, line);
            }
            catch (InvalidOperationException)
            {
                // The reader does not check the bytes inside strings: reading one that is not text throws here.
                throw new ChatFileException(line,
                    "a string is not valid Unicode text: it holds bytes that are not UTF-8, or a lone UTF-16 surrogate escape (\\ud800-\\udfff without its pair)");
            }
        }
    }

    private static List<ChatFileMessage> Messages(JsonElement root, int line)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
        {
            throw new ChatFileException(line, "each line must be a JSON object with a \"messages\" array");
        }

        // Tool definitions go into the prompt OpenAI trains on; left out here, the chat would train without them.
        foreach (var key in new[] { "tools", "functions" })
        {
            if (root.TryGetProperty(key, out var defined) && defined.ValueKind != JsonValueKind.Null)
            {
                throw new ChatFileException(line, $"\"{key}\": tool and function definitions cannot be trained here");
            }
        }

        var result = new List<ChatFileMessage>();
        var index = 0;
        foreach (var message in messages.EnumerateArray())
        {
            index++;
            if (message.ValueKind != JsonValueKind.Object)
            {
                throw new ChatFileException(line, $"message {index} is not a JSON object");
            }

            if (!message.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String || !Roles.Contains(role.GetString()!))
            {
                throw new ChatFileException(line, $"message {index} needs a \"role\" of {string.Join(", ", Roles)}");
            }

            if (message.TryGetProperty("tool_calls", out _) || message.TryGetProperty("function_call", out _))
            {
                throw new ChatFileException(line, $"message {index}: tool and function calls cannot be trained here");
            }

            if (!message.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(content.GetString()))
            {
                throw new ChatFileException(line, $"message {index} ({role.GetString()}) needs a non-empty string \"content\"");
            }

            // OpenAI's weight 0 leaves an assistant message out of the loss; every message here is trained, so a 0 (or
            // anything but 1) would be ignored without a word.
            if (message.TryGetProperty("weight", out var weight) && !(weight.ValueKind == JsonValueKind.Number && weight.TryGetDouble(out var w) && w == 1))
            {
                throw new ChatFileException(line, $"message {index} ({role.GetString()}) has \"weight\": {RegistryNames.Shorten(weight.GetRawText())}; every message is trained " +
                    $"here, so only a weight of 1 is accepted: leave the message out of the file instead of weighting it 0");
            }

            result.Add(new ChatFileMessage(role.GetString()!, content.GetString()!));
        }

        if (result.Count == 0)
        {
            throw new ChatFileException(line, "\"messages\" is empty");
        }

        if (!result.Any(m => m.Role == "assistant"))
        {
            throw new ChatFileException(line, "the chat has no assistant message to learn from");
        }

        return result;
    }
}
