using System.Text;

namespace Maas.Core.Llm;

/// <summary>The default chat format for models without a usable template: ChatML (<c>&lt;|im_start|&gt;role ... &lt;|im_end|&gt;</c>).</summary>
/// <remarks>
/// ChatML is what most instruction-tuned open models of the last years use and what llama.cpp falls back to, so a
/// model without a template still gets a consistent, documented prompt shape.
/// </remarks>
public static class ChatMlFormat
{
    /// <summary>The end-of-turn marker; also added as a stop string when the model lacks it as a special token.</summary>
    public const string EndOfTurn = "<|im_end|>";

    /// <summary>Renders the chat and opens the assistant's turn.</summary>
    public static string Format(IReadOnlyList<ChatMessage> messages)
    {
        var text = new StringBuilder();
        foreach (var message in messages)
        {
            text.Append("<|im_start|>").Append(message.Role).Append('\n').Append(message.Content).Append(EndOfTurn).Append('\n');
        }

        return text.Append("<|im_start|>assistant\n").ToString();
    }
}
