using Maas.Core.Formats.Gguf;
using Maas.Testing;

namespace Maas.Runtimes.Llama.Tests;

[Collection(LlamaCollection.Name)]
public sealed class LlamaModelTests(LlamaTestModels models)
{
    [Fact]
    public void Backend_has_a_cpu_device()
    {
        Assert.Contains(LlamaBackend.Devices, d => d.Type == LlamaDeviceType.Cpu);
        Assert.False(string.IsNullOrWhiteSpace(LlamaBackend.SystemInfo));
        Assert.True(LlamaBackend.SupportsMemoryMap);
        Assert.True(LlamaBackend.MaxParallelSequences >= 16);
    }

    [SharedModelFact(LlamaTestModels.TinyLlama)]
    public void Metadata_of_the_shared_model_matches_its_gguf_header()
    {
        var model = models.Tiny;
        var header = GgufReader.Read(SharedModels.PathOf(LlamaTestModels.TinyLlama));

        Assert.Equal("llama", model.Architecture);
        Assert.Equal(32000, model.VocabularySize);
        Assert.Equal(header.ParameterCount, model.ParameterCount);
        Assert.Equal(header.ContextLength, model.TrainingContextLength);
        Assert.Equal(header.EmbeddingLength, model.EmbeddingLength);
        Assert.Equal(header.BlockCount, model.LayerCount);
        Assert.Null(model.ChatTemplate); // the file carries none
        Assert.Equal("llama", model.Metadata["general.architecture"]);
        Assert.All(model.Metadata.Keys, key => Assert.True(header.Metadata.ContainsKey(key), key));
        Assert.Contains("llama.context_length", model.Metadata.Keys);
        Assert.Equal(model.Metadata["general.architecture"], model.GetMetadata("general.architecture"));
        Assert.Null(model.GetMetadata("no.such.key"));
        Assert.Contains("llama", model.Description, StringComparison.OrdinalIgnoreCase);
        Assert.True(model.HasDecoder);
        Assert.False(model.IsRecurrent);
        Assert.Equal(SpmTokens.Bos, model.Tokenizer.Bos);
        Assert.Equal(SpmTokens.Eos, model.Tokenizer.Eos);
        Assert.Equal(LlamaVocabularyType.SentencePiece, model.Tokenizer.Type);
    }

    [Fact]
    public void Generated_model_loads_with_the_shape_it_was_written_with()
    {
        var model = models.Generated;
        var options = LlamaTestModels.GeneratedOptions;

        Assert.Equal("llama", model.Architecture);
        Assert.Equal(options.ParameterCount, model.ParameterCount);
        Assert.Equal(options.EmbeddingLength, model.EmbeddingLength);
        Assert.Equal(options.BlockCount, model.LayerCount);
        Assert.Equal(options.HeadCount, model.HeadCount);
        Assert.Equal(options.KeyValueHeadCount, model.KeyValueHeadCount);
        Assert.Equal(options.ContextLength, model.TrainingContextLength);
        Assert.Equal(options.VocabularySize, model.VocabularySize);
        Assert.Equal(LlamaFileType.AllF32, model.FileType);
        Assert.Equal(GgufLlamaModelOptions.ChatMlTemplate, model.ChatTemplate);
        Assert.Equal(LlamaVocabularyType.BytePairEncoding, model.Tokenizer.Type);
        Assert.Equal(SyntheticBpeVocabulary.ImEndId, model.Tokenizer.Eos);
        Assert.True(model.Tokenizer.IsEndOfGeneration(SyntheticBpeVocabulary.ImEndId));
    }

    [Fact]
    public void Generated_model_generates_text()
    {
        using var context = models.Generated.CreateContext(LlamaTestModels.SmallContext());
        using var sampler = Generation.Greedy();

        var prompt = models.Generated.Tokenizer.Tokenize("Once upon a time");
        var output = Generation.Generate(context, sampler, prompt, 12);

        Assert.Equal(12, output.Count);
        Assert.All(output, t => Assert.InRange(t, 0, models.Generated.VocabularySize - 1));
        Assert.True(output.Distinct().Count() > 1, "random weights should still produce varied tokens");
    }

    [Fact]
    public void Progress_is_reported_and_can_abort_a_load()
    {
        var seen = new List<float>();
        using (var model = LlamaModel.Load(models.GeneratedPathEnsured(), new LlamaModelOptions { Progress = p => { seen.Add(p); return true; } }))
        {
            Assert.NotEmpty(seen);
            Assert.Equal(1f, seen[^1]);
        }

        var error = Assert.Throws<LlamaException>(() => LlamaModel.Load(models.GeneratedPath, new LlamaModelOptions { Progress = _ => false }));
        Assert.Contains("aborted", error.Message);

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => LlamaModel.Load(models.GeneratedPath, cancellationToken: cancelled.Token));
    }

    [Fact]
    public void Loading_without_memory_map_gives_the_same_model()
    {
        using var model = LlamaModel.Load(models.GeneratedPathEnsured(), new LlamaModelOptions { UseMemoryMap = false, GpuLayerCount = 0 });

        Assert.Equal(models.Generated.ParameterCount, model.ParameterCount);
    }

    [Fact]
    public void A_missing_or_broken_file_gives_a_clear_error()
    {
        Assert.Throws<FileNotFoundException>(() => LlamaModel.Load(Path.Combine(models.Folder, "absent.gguf")));

        var broken = Path.Combine(models.Folder, "broken.gguf");
        File.WriteAllText(broken, "this is not a model");
        var error = Assert.Throws<LlamaException>(() => LlamaModel.Load(broken));
        Assert.Contains("broken.gguf", error.Message);
        Assert.False(string.IsNullOrEmpty(error.NativeLog), "llama.cpp's own reason should be in the exception");

        // A GGUF that is fine as a file but not a model llama.cpp can build.
        var noArchitecture = Path.Combine(models.Folder, "empty.gguf");
        using (var w = GgufWriter.Create(noArchitecture))
        {
            w.Add("general.name", "nothing");
            w.Finish();
        }

        Assert.Throws<LlamaException>(() => LlamaModel.Load(noArchitecture));
    }

    [Fact]
    public void Using_a_disposed_model_throws_instead_of_crashing()
    {
        var model = LlamaModel.Load(models.GeneratedPathEnsured());
        model.Dispose();

        Assert.Throws<ObjectDisposedException>(() => model.Tokenizer.Tokenize("hello"));
        Assert.Throws<ObjectDisposedException>(() => model.CreateContext());
    }

    [Fact]
    public void A_context_keeps_its_model_alive_after_the_model_is_disposed()
    {
        var model = LlamaModel.Load(models.GeneratedPathEnsured());
        using var context = model.CreateContext(LlamaTestModels.SmallContext());
        model.Dispose();

        using var batch = new LlamaBatch(4);
        batch.AddRange([5, 6, 7], 0, 0);
        context.Decode(batch);
        Assert.Equal(model.VocabularySize, context.GetLogits().Length);
    }
}

/// <summary>Llama-2's SentencePiece special token ids.</summary>
internal static class SpmTokens
{
    public const int Bos = 1;
    public const int Eos = 2;
}

internal static class LlamaTestModelsExtensions
{
    /// <summary>The generated model's path, written first if no test has loaded it yet.</summary>
    public static string GeneratedPathEnsured(this LlamaTestModels models)
    {
        _ = models.Generated;
        return models.GeneratedPath;
    }
}
