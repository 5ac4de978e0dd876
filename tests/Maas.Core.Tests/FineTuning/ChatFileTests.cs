using System.Text;
using Maas.Core.FineTuning;

namespace Maas.Core.Tests.FineTuning;

/// <summary>Chat files whose content would otherwise train something else than what they say.</summary>
public sealed class ChatFileTests
{
    private const string Chat = """{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}""";

    private static List<IReadOnlyList<ChatFileMessage>> Parse(string text) => ChatFile.Parse(Encoding.UTF8.GetBytes(text), 100);

    private static string Refused(string text) => Assert.Throws<ChatFileException>(() => Parse(text)).Message;

    [Fact]
    public void A_utf8_byte_order_mark_is_not_part_of_the_first_line()
    {
        // Windows editors save "UTF-8" with one; the file used to be refused as "'0xEF' is an invalid start of a value".
        var chats = ChatFile.Parse([0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(Chat + "\n" + Chat + "\n")], 100);
        Assert.Equal(2, chats.Count);
        Assert.Equal("hi", chats[0][0].Content);
    }

    [Fact]
    public void A_weight_other_than_1_is_refused_since_every_message_is_trained()
    {
        // OpenAI's weight 0 leaves a message out of the loss; ignored here, it trained the very answer the file excluded.
        var zero = Refused("""{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "bad", "weight": 0}, {"role": "user", "content": "again"},""" +
            """ {"role": "assistant", "content": "ok"}]}""");
        Assert.Contains("line 1: message 2 (assistant) has \"weight\": 0", zero, StringComparison.Ordinal);
        Assert.Contains("\"weight\": \"heavy\"", Refused("""{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x", "weight": "heavy"}]}"""),
            StringComparison.Ordinal);

        // 1 is what every message gets: accepted.
        Assert.Single(Parse("""{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x", "weight": 1}]}"""));
    }

    [Fact]
    public void Content_of_only_white_space_is_as_empty_as_no_content()
    {
        var message = Refused(Chat + "\n" + """{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " \n\t"}]}""");
        Assert.Contains("line 2: message 2 (assistant) needs a non-empty string \"content\"", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tool_definitions_are_refused_rather_than_left_out_of_the_prompt()
    {
        Assert.Contains("line 1: \"tools\"", Refused("""{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}], "tools": [{"type":""" +
            """ "function", "function": {"name": "f"}}]}"""), StringComparison.Ordinal);
        Assert.Contains("line 1: \"functions\"", Refused("""{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}], "functions": []}"""),
            StringComparison.Ordinal);
    }
}
