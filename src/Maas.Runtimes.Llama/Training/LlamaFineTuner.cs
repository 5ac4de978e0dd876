using System.Diagnostics;
using Maas.Core.Formats.Gguf;
using Maas.Core.Hosting;
using Maas.Runtimes.Llama.Native;

namespace Maas.Runtimes.Llama.Training;

/// <summary>Fine-tunes a GGUF LLM on chats with llama.cpp's training API (AdamW), writing a loadable GGUF checkpoint each epoch.</summary>
public static class LlamaFineTuner
{
    /// <summary>Checks that <paramref name="path"/> is a GGUF LLM this engine can fine-tune; returns its weights' type name.</summary>
    /// <exception cref="LlamaFineTuneRefusedException">It is not a GGUF, not a decoder-only LLM, or its weights cannot be trained.</exception>
    public static string CheckBase(string path)
    {
        GgufFile file;
        try
        {
            file = GgufReader.Read(path);
        }
        catch (Exception e) when (e is Maas.Core.Formats.InvalidModelFileException or InvalidDataException or EndOfStreamException or IOException or NotSupportedException)
        {
            throw new LlamaFineTuneRefusedException($"the base model is not a GGUF file: {e.Message}");
        }

        if (file.Architecture is null || file.VocabularySize is null or 0)
        {
            throw new LlamaFineTuneRefusedException("the base model is not a GGUF LLM (no general.architecture or vocabulary)");
        }

        if (file.Architecture is "bert" or "nomic-bert" or "jina-bert-v2" or "t5" or "t5encoder" or "mamba" or "mamba2" or "rwkv6" or "rwkv7")
        {
            throw new LlamaFineTuneRefusedException(
                $"the base model's architecture '{file.Architecture}' cannot be fine-tuned here: only decoder-only transformer LLMs can");
        }

        var types = file.Tensors.Where(t => t.Dimensions.Count >= 2).Select(t => t.Type).Distinct().ToList();
        foreach (var type in types)
        {
            if (type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1
                or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K))
            {
                throw new LlamaFineTuneRefusedException($"the base model's weights of type {GgmlTypeTraits.Name(type)} cannot be converted to F32 for training");
            }
        }

        return file.Quantization ?? "F32";
    }

    /// <summary>Runs the fine-tuning; returns the fine-tuned GGUF and the losses.</summary>
    /// <param name="basePath">The base GGUF.</param>
    /// <param name="training">Training chats, in file order (errors name their line).</param>
    /// <param name="validation">Validation chats (held out: only evaluated), or empty.</param>
    /// <param name="options">Epochs, learning rate, sizes, work folder.</param>
    /// <param name="onEpoch">Called after each epoch (its checkpoint is written).</param>
    /// <param name="onProgress">Called after each window with the fraction of the run done.</param>
    /// <param name="cancellationToken">Stops between windows.</param>
    /// <exception cref="LlamaFineTuneRefusedException">The base or the chats cannot be trained on.</exception>
    public static LlamaFineTuneResult Run(
        string basePath,
        IReadOnlyList<LlamaTrainingChat> training,
        IReadOnlyList<LlamaTrainingChat> validation,
        LlamaFineTuneOptions options,
        Action<LlamaFineTuneEpoch>? onEpoch = null,
        Action<double>? onProgress = null,
        CancellationToken cancellationToken = default)
    {
        CheckRun(training, options);
        Directory.CreateDirectory(options.WorkFolder);
        var baseFile = GgufReader.Read(basePath);
        var baseType = CheckBase(basePath);
        var (trainable, converted) = TrainableCopy(options.ResumeCheckpoint ?? basePath, baseType, options);
        LlamaModel? model = null;
        try
        {
            model = LoadTrainable(trainable, cancellationToken);
            CheckModel(model, options);
            var windows = PackWindows(model, training, validation, options);

            // One window is one optimizer step: n_batch is the whole window, whose micro-batches ggml accumulates.
            using var session = LlamaTrainingSession.Create(
                model.Handle,
                new TrainingSessionSettings(windows.Size, windows.Size, windows.Micro, options.Threads,
                    options.TrainedLayers is { } layers ? Math.Max(0, model.LayerCount - layers) : 0),
                model.VocabularySize);
            session.LearningRate = options.LearningRate;
            var (baseValidation, epochs) = TrainEpochs(session, windows, baseFile, options, onEpoch, onProgress, cancellationToken);
            var last = epochs.Count > 0 ? epochs[^1].Checkpoint : options.ResumeCheckpoint ?? throw new InvalidOperationException("no epoch ran");
            var result = WriteResult(last, converted ? baseFile.FileType : null, options);
            return new LlamaFineTuneResult(result, baseValidation, epochs, windows.Training.Windows.Count, "F32", windows.Size);
        }
        finally
        {
            model?.Dispose();
            if (converted)
            {
                File.Delete(trainable);
            }
        }
    }

    private static void CheckRun(IReadOnlyList<LlamaTrainingChat> training, LlamaFineTuneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckSizes(options);
        if (options.Epochs < 1 || options.Threads < 1 || options.LearningRate is not (> 0f and <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(options), "Epochs and Threads must be positive, LearningRate in (0, 1]");
        }

        if (training.Count == 0)
        {
            throw new LlamaFineTuneRefusedException("the training file has no chats");
        }
    }

    private static LlamaModel LoadTrainable(string trainable, CancellationToken cancellationToken)
    {
        try
        {
            return LlamaModel.Load(trainable, new LlamaModelOptions { UseMemoryMap = false }, cancellationToken);
        }
        catch (LlamaException e)
        {
            throw new LlamaFineTuneRefusedException($"llama.cpp cannot load the base model: {e.Message}");
        }
    }

    private static void CheckModel(LlamaModel model, LlamaFineTuneOptions options)
    {
        if (!model.HasDecoder || model.HasEncoder || model.IsRecurrent)
        {
            throw new LlamaFineTuneRefusedException($"the base model ({model.Description}) is not a decoder-only transformer LLM");
        }

        if (options.Window > model.TrainingContextLength)
        {
            throw new LlamaFineTuneRefusedException($"the training window of {options.Window} tokens is longer than the model's context of {model.TrainingContextLength}");
        }
    }

    // The chats rendered and packed into windows of one size (fitted to the chats per step when that is set).
    private sealed record PackedWindows(TrainingWindows Training, TrainingWindows? Validation, int Size, int Micro);

    private static PackedWindows PackWindows(
        LlamaModel model, IReadOnlyList<LlamaTrainingChat> training, IReadOnlyList<LlamaTrainingChat> validation, LlamaFineTuneOptions options)
    {
        var trainChats = TrainingWindows.Render(model, training, options.Window, "training");
        var validChats = TrainingWindows.Render(model, validation, options.Window, "validation");
        var window = options.ChatsPerStep is { } per ? TrainingWindows.FitWindow(trainChats, validChats, per, options.Window) : options.Window;
        var pad = model.Tokenizer.Padding ?? model.Tokenizer.Eos ?? 0;
        var trainWindows = TrainingWindows.Pack(trainChats, window, options.ChatsPerStep, pad);
        var validWindows = validChats.Count > 0 ? TrainingWindows.Pack(validChats, window, null, pad) : null;
        var micro = options.MicroBatch ?? 256;
        if (window % micro != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"MicroBatch ({micro}) must divide the window ({window})");
        }

        return new PackedWindows(trainWindows, validWindows, window, micro);
    }

    // The epochs from the one after ResumeAfterEpoch on, each ending with a checkpoint; returns the base's validation
    // loss (before any step of this run) and the epochs' records.
    private static (double? BaseValidation, List<LlamaFineTuneEpoch> Epochs) TrainEpochs(
        LlamaTrainingSession session,
        PackedWindows windows,
        GgufFile baseFile,
        LlamaFineTuneOptions options,
        Action<LlamaFineTuneEpoch>? onEpoch,
        Action<double>? onProgress,
        CancellationToken cancellationToken)
    {
        var gate = options.Gate;
        var (trainWindows, validWindows) = (windows.Training, windows.Validation);
        double? baseValidation = validWindows is null ? null : Evaluate(session, validWindows, gate, cancellationToken);
        var epochs = new List<LlamaFineTuneEpoch>();
        var total = (double)(options.Epochs - options.ResumeAfterEpoch) * trainWindows.Windows.Count;
        var done = 0;
        var stepsBefore = (long)options.ResumeAfterEpoch * trainWindows.Windows.Count;
        for (var epoch = options.ResumeAfterEpoch + 1; epoch <= options.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            var (lossSum, lossTokens) = TrainEpoch(session, trainWindows, WindowOrder(trainWindows.Windows.Count, options.Seed, epoch), gate,
                () => onProgress?.Invoke(++done / total), cancellationToken);
            var seconds = clock.Elapsed.TotalSeconds;
            double? validationLoss = validWindows is null ? null : Evaluate(session, validWindows, gate, cancellationToken);
            var checkpoint = Path.Combine(options.WorkFolder, $"checkpoint-epoch-{epoch}.gguf");
            SaveCheckpoint(session, baseFile, checkpoint);
            var record = new LlamaFineTuneEpoch(
                epoch, lossTokens == 0 ? 0 : lossSum / lossTokens, validationLoss, checkpoint, stepsBefore + session.OptimizerSteps,
                    (long)trainWindows.Windows.Count * windows.Size, seconds, baseValidation);
            epochs.Add(record);
            onEpoch?.Invoke(record);
        }

        return (baseValidation, epochs);
    }

    // llama.cpp trains only F32 tensors: any other start is first converted to F32 with llama.cpp's quantiser (the
    // copy is the caller's to delete).
    private static (string Path, bool Converted) TrainableCopy(string start, string baseType, LlamaFineTuneOptions options)
    {
        if (!GgufReader.Read(start).Tensors.Any(t => t.Dimensions.Count >= 2 && t.Type != GgmlType.F32))
        {
            return (start, false);
        }

        var trainable = Path.Combine(options.WorkFolder, "base-f32.gguf");
        try
        {
            LlamaQuantizer.Quantize(start, trainable, new LlamaQuantizeOptions { FileType = LlamaFileType.AllF32, AllowRequantize = true, Threads = options.Threads });
        }
        catch (LlamaException e)
        {
            throw new LlamaFineTuneRefusedException($"the base model's {baseType} weights could not be converted to F32 for training: {e.Message}");
        }

        return (trainable, true);
    }

    // One epoch over the windows in the given order; the summed loss and the tokens it was summed over.
    private static (double LossSum, long LossTokens) TrainEpoch(
        LlamaTrainingSession session, TrainingWindows windows, int[] order, ITrainingGate? gate, Action onWindow, CancellationToken cancellationToken)
    {
        double lossSum = 0;
        long lossTokens = 0;
        foreach (var index in order)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (tokens, next, trained) = windows.Windows[index];
            var started = Stopwatch.GetTimestamp();
            var (sum, count) = session.Train(tokens, next, trained);
            lossSum += sum;
            lossTokens += count;
            onWindow();

            // One window is one optimizer step: the gate may hold the next one back while serving is busy.
            gate?.AfterBatch(Stopwatch.GetElapsedTime(started), cancellationToken);
        }

        return (lossSum, lossTokens);
    }

    // The fine-tuned file with the result's metadata; a base that was converted for training goes back to its storage
    // type (quantisedType), with the quantiser the engine already binds.
    private static string WriteResult(string last, long? quantisedType, LlamaFineTuneOptions options)
    {
        var result = Path.Combine(options.WorkFolder, "fine-tuned.gguf");
        var metadata = options.ResultMetadata.ToDictionary(kv => kv.Key, kv => GgufValue.From(kv.Value), StringComparer.Ordinal);
        if (quantisedType is { } fileType and not 0)
        {
            var quantised = Path.Combine(options.WorkFolder, "quantised.gguf");
            LlamaQuantizer.Quantize(last, quantised, new LlamaQuantizeOptions { FileType = (LlamaFileType)fileType, Threads = options.Threads });
            metadata["general.file_type"] = GgufValue.From((uint)fileType);
            Rewrite(quantised, result, metadata);
            File.Delete(quantised);
        }
        else
        {
            Rewrite(last, result, metadata);
        }

        return result;
    }

    /// <summary>
    /// The order an epoch trains its windows in: a shuffle that depends only on the seed and the epoch, so a job repeats
    /// in any process (HashCode.Combine would not: .NET seeds it per process), and a resumed run takes the same order.
    /// </summary>
    internal static int[] WindowOrder(int windows, int seed, int epoch)
    {
        var order = Enumerable.Range(0, windows).ToArray();
        new Random(unchecked((seed * 1_000_003) + epoch)).Shuffle(order);
        return order;
    }

    private static void CheckSizes(LlamaFineTuneOptions options)
    {
        // llama.cpp pads every context to a multiple of 256 tokens, and a window must fill its context exactly.
        if (options.Window < 256 || options.Window % 256 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Window, "Window must be a positive multiple of 256 tokens");
        }

        if (options.ChatsPerStep is < 1 || options.MicroBatch is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "ChatsPerStep and MicroBatch must be positive");
        }
    }

    private static double Evaluate(LlamaTrainingSession session, TrainingWindows windows, ITrainingGate? gate, CancellationToken cancellationToken)
    {
        double sum = 0;
        long count = 0;
        foreach (var (tokens, next, trained) in windows.Windows)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var started = Stopwatch.GetTimestamp();
            var (s, c) = session.Evaluate(tokens, next, trained);
            sum += s;
            count += c;
            gate?.AfterBatch(Stopwatch.GetElapsedTime(started), cancellationToken); // validation computes on the same cores
        }

        return count == 0 ? 0 : sum / count;
    }

    /// <summary>
    /// Saves the weights, then rewrites the GGUF with the base's metadata that llama.cpp's saver leaves out or changes
    /// (chat templates, file type, the context length it sets to the training window).
    /// </summary>
    private static void SaveCheckpoint(LlamaTrainingSession session, GgufFile baseFile, string path)
    {
        var raw = path + ".raw";
        try
        {
            session.Save(raw);
            var arch = GgufReader.Read(raw).Architecture;
            var metadata = new Dictionary<string, GgufValue>(StringComparer.Ordinal);
            foreach (var key in baseFile.MetadataKeys.Where(k => k.StartsWith("tokenizer.chat_template", StringComparison.Ordinal)))
            {
                metadata[key] = baseFile.Metadata[key];
            }

            if (arch is not null && baseFile.Get($"{arch}.context_length") is { } context)
            {
                metadata[$"{arch}.context_length"] = context;
            }

            metadata["general.file_type"] = GgufValue.From(0u); // ALL_F32
            Rewrite(raw, path, metadata);
        }
        finally
        {
            File.Delete(raw);
        }
    }

    /// <summary>Copies a GGUF with some metadata keys set (added or replaced); the tensors are copied byte for byte.</summary>
    private static void Rewrite(string source, string path, IReadOnlyDictionary<string, GgufValue> overrides)
    {
        var partial = path + ".partial";
        try
        {
            var saved = GgufReader.Read(source);
            var metadata = saved.MetadataKeys.Where(k => k != "general.alignment").ToDictionary(k => k, k => saved.Metadata[k], StringComparer.Ordinal);
            foreach (var (key, value) in overrides)
            {
                metadata[key] = value;
            }

            using (var stream = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1))
            using (var writer = new GgufWriter(stream, saved.Alignment, leaveOpen: true))
            using (var input = File.OpenRead(source))
            {
                foreach (var (key, value) in metadata)
                {
                    writer.Add(key, value);
                }

                foreach (var tensor in saved.Tensors)
                {
                    writer.AddTensor(tensor.Name, tensor.Type, [.. tensor.Dimensions]);
                }

                var buffer = new byte[1 << 20];
                foreach (var tensor in saved.Tensors)
                {
                    input.Position = saved.DataOffset + (long)tensor.Offset;
                    var left = (long)tensor.ByteSize;
                    while (left > 0)
                    {
                        var n = input.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                        if (n == 0)
                        {
                            throw new EndOfStreamException($"'{source}' ends inside tensor '{tensor.Name}'");
                        }

                        writer.WriteTensorData(buffer.AsSpan(0, n));
                        left -= n;
                    }
                }

                writer.Finish();
            }

            File.Move(partial, path, overwrite: true);
        }
        finally
        {
            File.Delete(partial);
        }
    }
}
