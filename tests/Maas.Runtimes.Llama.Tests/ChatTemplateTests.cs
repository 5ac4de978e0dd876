using Maas.Testing;

namespace Maas.Runtimes.Llama.Tests;

[Collection(LlamaCollection.Name)]
public sealed class ChatTemplateTests(LlamaTestModels models)
{
    private static readonly LlamaChatMessage[] Chat =
    [
        new("system", "You are terse."),
        new("user", "Hi there"),
        new("assistant", "Hello."),
        new("user", "Say ünïcödé 🎉"),
    ];

    [Fact]
    public void The_generated_model_formats_with_its_own_template()
    {
        var text = models.Generated.ApplyChatTemplate(Chat);

        Assert.Equal(
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n" +
            "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nSay ünïcödé 🎉<|im_end|>\n<|im_start|>assistant\n",
            text);

        // The formatted prompt's markers become the control tokens.
        var tokens = models.Generated.Tokenizer.Tokenize(text, addSpecial: false, parseSpecial: true);
        Assert.Equal(5, tokens.Count(t => t == Core.Formats.Gguf.SyntheticBpeVocabulary.ImStartId));
    }

    [SharedModelFact(LlamaTestModels.TinyLlama)]
    public void A_model_without_a_template_gets_the_default_and_named_templates_work()
    {
        var model = models.Tiny;
        Assert.Null(model.ChatTemplate);

        var fallback = model.ApplyChatTemplate(Chat, addAssistant: false);
        Assert.Equal(LlamaChatTemplates.Apply(LlamaChatTemplates.Default, Chat, addAssistant: false), fallback);
        Assert.StartsWith("<|im_start|>system\nYou are terse.<|im_end|>", fallback);
        Assert.DoesNotContain("<|im_start|>assistant\n", fallback[^30..]);

        var llama2 = model.ApplyChatTemplate(Chat, template: "llama2");
        Assert.Contains("[INST]", llama2);
        Assert.Contains("Say ünïcödé 🎉", llama2);
    }

    [Fact]
    public void Built_in_templates_are_listed_and_unknown_ones_refused()
    {
        Assert.Contains("chatml", LlamaChatTemplates.BuiltIn);
        Assert.Contains("llama3", LlamaChatTemplates.BuiltIn);

        var error = Assert.Throws<LlamaException>(() => LlamaChatTemplates.Apply("no-such-template", Chat));
        Assert.Contains("no-such-template", error.Message);
    }

    [Fact]
    public void A_long_chat_grows_the_buffer()
    {
        var messages = Enumerable.Range(0, 50).Select(i => new LlamaChatMessage(i % 2 == 0 ? "user" : "assistant", new string('x', 500))).ToList();

        var text = LlamaChatTemplates.Apply("chatml", messages);

        Assert.True(text.Length > 25_000);
    }
}
