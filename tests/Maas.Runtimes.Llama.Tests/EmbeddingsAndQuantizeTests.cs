using Maas.Core.Formats.Gguf;
using Maas.Testing;

namespace Maas.Runtimes.Llama.Tests;

[Collection(LlamaCollection.Name)]
public sealed class EmbeddingsAndQuantizeTests(LlamaTestModels models)
{
    [SharedModelFact(LlamaTestModels.TinyLlama)]
    public void Pooled_and_per_token_embeddings_have_n_embd_floats()
    {
        var model = models.Tiny;
        using var context = model.CreateContext(LlamaTestModels.SmallContext(sequences: 2) with { Embeddings = true, PoolingType = LlamaPoolingType.Mean });
        Assert.Equal(LlamaPoolingType.Mean, context.PoolingType);
        using var batch = new LlamaBatch(32);
        var a = model.Tokenizer.Tokenize("first text");
        var b = model.Tokenizer.Tokenize("a second, different text");
        for (var i = 0; i < a.Length; i++)
        {
            batch.Add(a[i], i, 0, output: true);
        }

        for (var i = 0; i < b.Length; i++)
        {
            batch.Add(b[i], i, 1, output: true);
        }

        context.Decode(batch);

        var pooledA = context.GetSequenceEmbeddings(0);
        var pooledB = context.GetSequenceEmbeddings(1);
        Assert.Equal(model.EmbeddingLength, pooledA.Length);
        Assert.Equal(model.EmbeddingLength, pooledB.Length);
        Assert.NotEqual(pooledA, pooledB);
        Assert.All(pooledA, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Per_token_embeddings_without_pooling()
    {
        var model = models.Generated;
        using var context = model.CreateContext(LlamaTestModels.SmallContext() with { Embeddings = true, PoolingType = LlamaPoolingType.None });
        using var batch = new LlamaBatch(8);
        batch.Add(30, 0, 0, output: true);
        batch.Add(31, 1, 0, output: true);
        context.Decode(batch);

        var first = context.GetTokenEmbeddings(0);
        var second = context.GetTokenEmbeddings(1);
        Assert.Equal(model.EmbeddingLength, first.Length);
        Assert.NotEqual(first, second);
        Assert.Throws<InvalidOperationException>(() => context.GetSequenceEmbeddings(0));
    }

    [SharedModelFact(LlamaTestModels.TinyLlama)]
    public void The_shared_model_quantizes_to_q8_0_and_still_generates()
    {
        var output = Path.Combine(models.Folder, "tiny-q8_0.gguf");

        LlamaQuantizer.Quantize(SharedModels.PathOf(LlamaTestModels.TinyLlama), output, new LlamaQuantizeOptions { FileType = LlamaFileType.MostlyQ8_0, Threads = 2 });

        Assert.Equal("Q8_0", GgufReader.Read(output).Quantization);
        using var model = LlamaModel.Load(output);
        Assert.Equal(LlamaFileType.MostlyQ8_0, model.FileType);
        Assert.Equal(models.Tiny.ParameterCount, model.ParameterCount);
        Assert.True(model.SizeBytes < models.Tiny.SizeBytes);
        using var context = model.CreateContext(LlamaTestModels.SmallContext());
        using var sampler = Generation.Greedy();
        var generated = Generation.Generate(context, sampler, model.Tokenizer.Tokenize("Hello"), 5);
        Assert.Equal(5, generated.Count);
    }

    [Fact]
    public void The_generated_model_quantizes_and_loads()
    {
        var output = Path.Combine(models.Folder, "generated-q8_0.gguf");

        LlamaQuantizer.Quantize(models.GeneratedPathEnsured(), output);

        using var model = LlamaModel.Load(output);
        Assert.Equal(LlamaFileType.MostlyQ8_0, model.FileType);
        Assert.Equal("Q8_0", model.FileTypeName);
        Assert.Equal(models.Generated.ChatTemplate, model.ChatTemplate);
    }

    [Fact]
    public void Quantizing_a_missing_or_broken_file_fails_clearly()
    {
        Assert.Throws<FileNotFoundException>(() => LlamaQuantizer.Quantize(Path.Combine(models.Folder, "absent.gguf"), Path.Combine(models.Folder, "out.gguf")));

        var broken = Path.Combine(models.Folder, "not-a-model.gguf");
        File.WriteAllBytes(broken, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        var error = Assert.Throws<LlamaException>(() => LlamaQuantizer.Quantize(broken, Path.Combine(models.Folder, "out.gguf")));
        Assert.Contains("not-a-model.gguf", error.Message);
    }
}
