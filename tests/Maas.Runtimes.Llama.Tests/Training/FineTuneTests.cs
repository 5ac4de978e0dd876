using Maas.Core.Formats.Gguf;
using Maas.Runtimes.Llama.Training;
using Xunit.Abstractions;

namespace Maas.Runtimes.Llama.Tests.Training;

/// <summary>Fine-tuning the generated Llama with llama.cpp's training API: a synthetic task it must learn.</summary>
[Collection(LlamaCollection.Name)]
public sealed class FineTuneTests(LlamaTestModels models, ITestOutputHelper output)
{
    /// <summary>The fixed answer of the synthetic task, whatever the question.</summary>
    public const string Pattern = "ok ok ok";

    /// <summary>Chats whose assistant always answers <see cref="Pattern"/> to a question of random letters.</summary>
    public static List<LlamaTrainingChat> PatternChats(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var question = new string(Enumerable.Range(0, random.Next(4, 12)).Select(_ => (char)('a' + random.Next(26))).ToArray());
            return new LlamaTrainingChat([new("user", question), new("assistant", Pattern)]);
        }).ToList();
    }

    [Fact]
    public void Held_out_loss_drops_by_half_and_greedy_answers_follow_the_pattern()
    {
        _ = models.Generated; // writes the generated model
        var work = Path.Combine(models.Folder, "finetune-pattern");
        var epochs = new List<LlamaFineTuneEpoch>();
        var result = LlamaFineTuner.Run(
            models.GeneratedPath,
            PatternChats(24, seed: 1),
            PatternChats(6, seed: 2),
            new LlamaFineTuneOptions { Epochs = 3, LearningRate = 1e-2f, Window = 256, Threads = 2, WorkFolder = work },
            epochs.Add);

        output.WriteLine($"base validation loss {result.BaseValidationLoss:F3}, {result.Windows} windows");
        foreach (var e in epochs)
        {
            output.WriteLine($"epoch {e.Epoch}: training {e.TrainingLoss:F3}, validation {e.ValidationLoss:F3}, {e.TrainedTokens / e.Seconds:F0} tokens/s");
        }

        Assert.Equal(3, epochs.Count);
        Assert.NotNull(result.BaseValidationLoss);
        Assert.True(
            epochs[^1].ValidationLoss <= 0.5 * result.BaseValidationLoss,
            $"validation loss {result.BaseValidationLoss:F3} -> {string.Join(", ", epochs.Select(e => e.ValidationLoss?.ToString("F3")))}");

        // Every epoch's checkpoint is a GGUF llama.cpp loads, and each is a different model (the weights moved).
        var sizes = new HashSet<string>();
        foreach (var e in epochs)
        {
            using var checkpoint = LlamaModel.Load(e.Checkpoint);
            Assert.Equal(LlamaFileType.AllF32, checkpoint.FileType);
            Assert.True(sizes.Add(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(e.Checkpoint)))),
                $"epoch {e.Epoch}'s checkpoint repeats an earlier one");
        }

        // The checkpoint is a loadable GGUF that keeps the base's chat template and context length.
        var header = GgufReader.Read(result.ModelPath);
        Assert.Equal(GgufLlamaModelOptions.ChatMlTemplate, header.ChatTemplate);
        Assert.Equal(LlamaTestModels.GeneratedOptions.ContextLength, header.ContextLength);
        using var tuned = LlamaModel.Load(result.ModelPath);
        using var context = tuned.CreateContext(LlamaTestModels.SmallContext());
        using var sampler = Generation.Greedy();
        foreach (var chat in PatternChats(3, seed: 3))
        {
            var prompt = tuned.ApplyChatTemplate([chat.Messages[0]], addAssistant: true);
            context.Memory.Clear();
            var output = Generation.Generate(context, sampler, tuned.Tokenizer.Tokenize(prompt, parseSpecial: true), 12, stopAtEndOfGeneration: true);
            var text = tuned.Tokenizer.Detokenize(output.ToArray(), removeSpecial: true);
            Assert.StartsWith(Pattern, text, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(GgmlType.Q8_0, "Q8_0", LlamaFileType.MostlyQ8_0)]
    [InlineData(GgmlType.F16, "F16", LlamaFileType.MostlyF16)]
    public void A_quantised_or_half_precision_base_trains_in_f32_and_comes_back_in_its_own_type(GgmlType weights, string typeName, LlamaFileType fileType)
    {
        var path = models.Written($"{typeName}.gguf", LlamaTestModels.GeneratedOptions with { WeightType = weights });
        Assert.Equal(typeName, LlamaFineTuner.CheckBase(path));
        var result = LlamaFineTuner.Run(
            path,
            PatternChats(12, seed: 4),
            PatternChats(4, seed: 5),
            new LlamaFineTuneOptions { Epochs = 1, LearningRate = 1e-2f, Window = 256, Threads = 2, WorkFolder = Path.Combine(models.Folder, $"finetune-{typeName}") });

        Assert.Equal("F32", result.TrainedFileType);
        Assert.Equal(GgmlType.F32, GgufReader.Read(result.Epochs[0].Checkpoint).Tensors.First(t => t.Name == "blk.0.attn_q.weight").Type);
        Assert.True(result.Epochs[0].ValidationLoss < result.BaseValidationLoss, $"{result.BaseValidationLoss} -> {result.Epochs[0].ValidationLoss}");

        // Back in the base's type, tensor by tensor, and loadable.
        var baseTypes = GgufReader.Read(path).Tensors.ToDictionary(t => t.Name, t => t.Type);
        Assert.All(GgufReader.Read(result.ModelPath).Tensors, t => Assert.Equal(baseTypes[t.Name], t.Type));
        using var tuned = LlamaModel.Load(result.ModelPath);
        Assert.Equal(fileType, tuned.FileType);
    }

    [Fact]
    public void Training_only_the_last_layer_leaves_the_earlier_layers_bit_for_bit_as_they_were()
    {
        _ = models.Generated;
        var result = LlamaFineTuner.Run(
            models.GeneratedPath,
            PatternChats(8, seed: 8),
            [],
            new LlamaFineTuneOptions
            {
                Epochs = 1,
                LearningRate = 1e-2f,
                Window = 256,
                Threads = 2,
                TrainedLayers = 1,
                WorkFolder = Path.Combine(models.Folder, "finetune-last-layer")
            });

        var layers = GgufReader.Read(models.GeneratedPath).BlockCount!.Value;
        Assert.True(layers >= 2, $"the generated model has {layers} layers; the test needs a frozen one");
        var before = TensorBytes(models.GeneratedPath);
        var after = TensorBytes(result.ModelPath);
        var last = $"blk.{layers - 1}.";
        var frozen = before.Keys.Where(n => n.StartsWith("blk.", StringComparison.Ordinal) && !n.StartsWith(last, StringComparison.Ordinal)).ToList();
        var trained = before.Keys.Where(
            n => n.StartsWith(last, StringComparison.Ordinal) && n.EndsWith(".weight", StringComparison.Ordinal) && !n.Contains("norm", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(frozen);
        Assert.NotEmpty(trained);
        Assert.All(frozen, n => Assert.True(before[n].SequenceEqual(after[n]), $"{n} changed although its layer is frozen"));
        Assert.Contains(trained, n => !before[n].SequenceEqual(after[n]));
    }

    // Every tensor's data bytes by name.
    private static Dictionary<string, byte[]> TensorBytes(string path)
    {
        var file = GgufReader.Read(path);
        using var stream = File.OpenRead(path);
        return file.Tensors.ToDictionary(t => t.Name, t =>
        {
            var bytes = new byte[(int)t.ByteSize];
            stream.Position = file.DataOffset + (long)t.Offset;
            stream.ReadExactly(bytes);
            return bytes;
        });
    }

    [Fact]
    public void A_file_that_is_not_a_gguf_llm_is_refused_with_the_reason()
    {
        var notGguf = Path.Combine(models.Folder, "not-a-model.gguf");
        File.WriteAllText(notGguf, "{\"messages\": []}");
        var e = Assert.Throws<LlamaFineTuneRefusedException>(() => LlamaFineTuner.CheckBase(notGguf));
        Assert.Contains("not a GGUF", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_seed_orders_the_windows_so_a_run_repeats_bit_for_bit_with_its_seed_and_differs_with_another()
    {
        _ = models.Generated;
        var chats = PatternChats(24, seed: 12);
        byte[] Weights(int seed, string folder)
        {
            var result = LlamaFineTuner.Run(
                models.GeneratedPath,
                chats,
                [],
                new LlamaFineTuneOptions { Epochs = 1, LearningRate = 1e-2f, Window = 256, Threads = 1, Seed = seed, WorkFolder = Path.Combine(models.Folder, folder) });
            Assert.True(result.Windows > 1, $"{result.Windows} window: the order cannot matter");
            return File.ReadAllBytes(result.Epochs[0].Checkpoint);
        }

        var first = Weights(7, "finetune-seed-7a");
        Assert.Equal(first, Weights(7, "finetune-seed-7b"));
        Assert.NotEqual(first, Weights(8, "finetune-seed-8"));
    }

    [Fact]
    public void The_window_order_is_a_function_of_the_seed_and_the_epoch_alone_in_every_process()
    {
        // Pinned: a job run again, or resumed by another worker process, trains each epoch's windows in the same order.
        Assert.Equal([4, 6, 2, 8, 5, 7, 3, 0, 9, 1], LlamaFineTuner.WindowOrder(10, seed: 7, epoch: 1));
        Assert.Equal([9, 0, 8, 1, 2, 6, 5, 3, 7, 4], LlamaFineTuner.WindowOrder(10, seed: 7, epoch: 2));
        Assert.Equal([3, 1, 0, 5, 6, 9, 8, 7, 2, 4], LlamaFineTuner.WindowOrder(10, seed: 8, epoch: 1));
    }

    [Theory]
    [InlineData("bert", true, "architecture 'bert' cannot be fine-tuned")]
    [InlineData("llama", false, "not a GGUF LLM (no general.architecture or vocabulary)")]
    public void A_gguf_that_is_not_a_decoder_llm_is_refused_naming_why(string architecture, bool vocabulary, string reason)
    {
        var path = Path.Combine(models.Folder, $"not-an-llm-{architecture}.gguf");
        File.WriteAllBytes(path, NotAnLlm(architecture, vocabulary));
        var e = Assert.Throws<LlamaFineTuneRefusedException>(() => LlamaFineTuner.CheckBase(path));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    /// <summary>A valid GGUF that is not a decoder LLM: an encoder's architecture, or no vocabulary.</summary>
    public static byte[] NotAnLlm(string architecture, bool vocabulary)
    {
        using var stream = new MemoryStream();
        using (var writer = new GgufWriter(stream, leaveOpen: true))
        {
            writer.Add("general.architecture", architecture);
            if (vocabulary)
            {
                writer.Add($"{architecture}.vocab_size", 100u);
            }

            writer.AddTensor("token_embd.weight", GgmlType.F32, 8, 100);
            writer.WriteHeader();
            writer.WriteTensorValues(new float[800]);
            writer.Finish();
        }

        return stream.ToArray();
    }

    [Fact]
    public void A_chat_longer_than_the_window_is_refused_naming_its_line()
    {
        _ = models.Generated;
        var longChat = new LlamaTrainingChat([new("user", string.Join(' ', Enumerable.Repeat("word", 400))), new("assistant", Pattern)]);
        var e = Assert.Throws<LlamaFineTuneRefusedException>(() => LlamaFineTuner.Run(
            models.GeneratedPath,
            [.. PatternChats(2, seed: 5), longChat],
            [],
            new LlamaFineTuneOptions { Epochs = 1, Window = 256, Threads = 2, WorkFolder = Path.Combine(models.Folder, "finetune-long") }));
        Assert.Contains("training file line 3", e.Message);
    }

    [Fact]
    public void Each_optimizer_step_takes_batch_size_chats_as_ggml_counts_its_steps()
    {
        _ = models.Generated;
        var chats = PatternChats(10, seed: 8);
        LlamaFineTuneResult Train(int? chatsPerStep, int epochs, string folder) => LlamaFineTuner.Run(
            models.GeneratedPath,
            chats,
            PatternChats(2, seed: 9),
            new LlamaFineTuneOptions
            {
                Epochs = epochs,
                LearningRate = 1e-2f,
                Window = 512,
                ChatsPerStep = chatsPerStep,
                Threads = 2,
                WorkFolder = Path.Combine(models.Folder, folder)
            });

        // 10 chats in steps of 3: 3 + 3 + 3 + 1, so 4 AdamW steps an epoch (counted by ggml's calls for step parameters).
        var three = Train(3, 2, "finetune-batch-3");
        Assert.Equal([4L, 8L], three.Epochs.Select(e => e.Steps));
        Assert.Equal(4, three.Windows);
        Assert.Equal(256, three.Window); // the smallest window that holds 3 short chats, not the 512 allowed
        Assert.True(three.Epochs[^1].ValidationLoss < three.BaseValidationLoss, $"{three.BaseValidationLoss} -> {three.Epochs[^1].ValidationLoss}");

        Assert.Equal(10, Assert.Single(Train(1, 1, "finetune-batch-1").Epochs).Steps);

        // "auto": as many whole chats as fit the 512-token window, which is all 10, so one step.
        var auto = Train(null, 1, "finetune-batch-auto");
        Assert.Equal(1, Assert.Single(auto.Epochs).Steps);
        Assert.Equal(512, auto.Window);
    }

    [Fact]
    public void A_batch_too_long_for_the_window_is_refused_naming_the_batch_size()
    {
        _ = models.Generated;
        var e = Assert.Throws<LlamaFineTuneRefusedException>(() => LlamaFineTuner.Run(
            models.GeneratedPath,
            PatternChats(64, seed: 10),
            [],
            new LlamaFineTuneOptions { Epochs = 1, Window = 256, ChatsPerStep = 64, Threads = 2, WorkFolder = Path.Combine(models.Folder, "finetune-batch-long") }));
        Assert.Contains("batch_size 64: the chats of training file lines 1 to 64", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_run_resumes_after_the_last_finished_epoch_from_its_checkpoint()
    {
        _ = models.Generated;
        var training = PatternChats(12, seed: 6);
        var validation = PatternChats(4, seed: 7);
        var first = LlamaFineTuner.Run(
            models.GeneratedPath,
            training,
            validation,
            new LlamaFineTuneOptions { Epochs = 2, LearningRate = 1e-2f, Window = 256, Threads = 2, WorkFolder = Path.Combine(models.Folder, "finetune-first") });

        // A worker died after epoch 1: the next one starts from that checkpoint and runs only epoch 2.
        var resumed = LlamaFineTuner.Run(
            models.GeneratedPath,
            training,
            validation,
            new LlamaFineTuneOptions
            {
                Epochs = 2,
                LearningRate = 1e-2f,
                Window = 256,
                Threads = 2,
                WorkFolder = Path.Combine(models.Folder, "finetune-resumed"),
                ResumeCheckpoint = first.Epochs[0].Checkpoint,
                ResumeAfterEpoch = 1,
            });

        Assert.Equal(2, Assert.Single(resumed.Epochs).Epoch);
        Assert.True(resumed.BaseValidationLoss < first.BaseValidationLoss, $"resumed from {resumed.BaseValidationLoss}, the base was at {first.BaseValidationLoss}");
        Assert.Equal(first.Epochs[0].ValidationLoss!.Value, resumed.BaseValidationLoss!.Value, 3);
        Assert.True(resumed.Epochs[0].ValidationLoss < resumed.BaseValidationLoss);
    }
}
