using Maas.Core.Llm;

namespace Maas.Server.Ollama;

/// <summary>
/// Ollama's <c>context</c> on <c>/api/generate</c>: the token ids of the conversation so far (the prompt as the model
/// saw it, templated, then the answer), returned on the last response and sent back to go on from exactly there.
/// </summary>
/// <remarks>
/// Ollama turns the ids back into text and renders the new turn after it; here the ids themselves come first and the
/// new turn's tokens follow, so the model sees what it saw before and the engine's prefix cache, which still holds
/// those tokens, skips them. Raw prompts neither take nor return a context (Ollama returns none in raw mode).
/// </remarks>
internal static class OllamaContext
{
    /// <summary>Refuses an id outside the serving model's vocabulary (400 naming <c>context</c>).</summary>
    public static void Check(ILlmEngine serving, IReadOnlyList<int> context)
    {
        var vocabulary = serving.Info.VocabularySize;
        for (var i = 0; i < context.Count; i++)
        {
            if ((uint)context[i] >= (uint)vocabulary)
            {
                throw LlmException.Invalid($"'context[{i}]' is token id {context[i]}, but the model's vocabulary has {vocabulary} tokens (ids 0 to {vocabulary - 1})", "context");
            }
        }
    }

    /// <summary>
    /// The prompt that goes on from <paramref name="head"/> (the context's ids in <paramref name="engine"/>'s
    /// vocabulary) with a new turn rendered for it: the head, then the turn without its leading BOS.
    /// </summary>
    public static IReadOnlyList<int> Continue(ILlmEngine engine, IReadOnlyList<int> head, IReadOnlyList<int> turn)
    {
        // The context already starts the sequence: a second BOS in the middle would be a token the model never saw there.
        var bos = engine.Tokenize("", addSpecial: true, parseSpecial: false);
        var skip = turn.Count >= bos.Count && turn.Take(bos.Count).SequenceEqual(bos) ? bos.Count : 0;
        return [.. head, .. turn.Skip(skip)];
    }

    /// <summary>
    /// The context to return: the prompt's tokens, then the answer's. Those are the ids the engine generated when they
    /// spell the answer returned; when they do not (a stop string cut inside a token), the answer's text tokenized.
    /// </summary>
    /// <remarks>
    /// Byte tokens that make no whole UTF-8 character are left out of the answer's text but were read by the model:
    /// they are kept (they detokenize to U+FFFD, which is why the comparison leaves that character out).
    /// </remarks>
    public static IReadOnlyList<int> Of(ILlmEngine engine, IReadOnlyList<int> prompt, IReadOnlyList<int>? generated, string answer)
    {
        static string Characters(string text) => text.Replace("\uFFFD", "", StringComparison.Ordinal);
        var tail = generated is not null && Characters(engine.Detokenize(generated, renderSpecial: false)) == Characters(answer)
            ? generated
            : engine.Tokenize(answer, addSpecial: false, parseSpecial: false);
        return [.. prompt, .. tail];
    }
}
