using Maas.Runtimes.Llama.Native;

namespace Maas.Runtimes.Llama;

/// <summary>Chat formatting with llama.cpp's built-in templates (llama_chat_apply_template; no Jinja engine).</summary>
/// <remarks>A template is a built-in name ("chatml", "llama2", "llama3", ...) or Jinja source that llama.cpp recognises.</remarks>
public static class LlamaChatTemplates
{
    /// <summary>What a model without its own template is formatted with (llama.cpp's own fallback too).</summary>
    public const string Default = "chatml";

    /// <summary>Names of the templates llama.cpp knows.</summary>
    public static IReadOnlyList<string> BuiltIn
    {
        get
        {
            LlamaBackend.EnsureInitialized();
            return NativeApi.BuiltInChatTemplates();
        }
    }

    /// <summary>Formats <paramref name="messages"/> with <paramref name="template"/>; <paramref name="addAssistant"/> ends with the assistant's turn opener.</summary>
    /// <exception cref="LlamaException">llama.cpp does not recognise the template.</exception>
    public static string Apply(string template, IReadOnlyList<LlamaChatMessage> messages, bool addAssistant = true)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(messages);
        LlamaBackend.EnsureInitialized();
        return NativeApi.ApplyChatTemplate(template, messages, addAssistant)
            ?? throw new LlamaException(
                $"llama_chat_apply_template does not support the template '{Shorten(template)}' " +
                $"(built-in names: {string.Join(", ", BuiltIn)}; Jinja sources must match one of them)");
    }

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..60] + "...";
}
