using Maas.Core.Formats.Gguf;
using Maas.Testing;

namespace Maas.Core.Tests.Formats.Gguf;

public sealed class GgufReaderTests
{
    private const string TinyLlama = "llama-2-tiny-random.gguf";

    [SharedModelFact(TinyLlama)]
    public void Reads_the_shared_tiny_llama()
    {
        var file = GgufReader.Read(SharedModels.PathOf(TinyLlama));

        Assert.Equal(3u, file.Version);
        Assert.Equal("llama", file.Architecture);
        Assert.Equal(32000, file.VocabularySize);
        Assert.Equal("llama", file.TokenizerModel);
        Assert.Equal(file.GetInteger("llama.context_length"), file.ContextLength);
        Assert.True(file.EmbeddingLength > 0);
        Assert.True(file.BlockCount > 0);
        Assert.NotEmpty(file.Tensors);
        Assert.Contains(file.Tensors, t => t.Name == "token_embd.weight");
        Assert.Equal(file.Tensors.Sum(t => t.ElementCount), file.ParameterCount);
        Assert.NotNull(file.Quantization);
        Assert.Equal(0, file.DataOffset % file.Alignment);
        Assert.Equal(32000, file.Get("tokenizer.ggml.scores")!.AsArray<float>().Length);
        Assert.Equal(file.Metadata.Count, file.MetadataKeys.Count);

        // Every tensor lies inside the file, and the last one ends near its end.
        var end = file.Tensors.Max(t => (long)t.Offset + (long)t.ByteSize) + file.DataOffset;
        Assert.True(end <= file.FileLength);
    }

    [SharedModelFact(TinyLlama)]
    public void Chat_template_of_the_shared_model_is_reported_as_in_the_file()
    {
        var file = GgufReader.Read(SharedModels.PathOf(TinyLlama));

        Assert.Equal(file.Metadata.ContainsKey("tokenizer.chat_template"), file.ChatTemplate is not null);
    }
}
