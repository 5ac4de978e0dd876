using System.Globalization;
using System.Text.Json;
using Maas.Core.FineTuning;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Runtimes.Llama;
using Maas.Runtimes.Llama.Training;
using Maas.Training;

namespace Maas.Server.FineTuning;

/// <summary>
/// Runs "fine-tune" jobs in the job queue's workers: reads the files, trains the base GGUF with llama.cpp's training
/// API (a checkpoint each epoch, so a worker that takes the job over resumes after the last finished epoch), and
/// registers the result once as a version of the target model with its lineage and an alias named after the job.
/// While this process serves, training gives way to it after every window (<paramref name="servingYield"/>, like table
/// and image training).
/// </summary>
internal sealed class FineTuningJobHandler(IModelRegistry registry, IArtifactStore artifacts, FineTuningOptions options, ILogger<FineTuningJobHandler> logger,
    ServingYield? servingYield = null) : IJobHandler
{
    public const string CheckpointEventType = "fine_tuning.checkpoint";
    public const string MetricsEventType = "fine_tuning.metrics";
    public const string MessageEventType = "fine_tuning.message";
    public const string ValidatingStage = "validating_files";
    public const string RunningStage = "running";
    public const string YieldingStage = "running (yielding to serving)";
    public const string YieldingEventType = "fine_tuning.yielding";
    public const string JobMetadataKey = "maas.fine_tuning.job";
    public const string LineageMetadataKey = "maas.lineage";
    public const string CheckpointMetadataKey = "maas.fine_tuning.checkpoint";

    /// <inheritdoc />
    public string Kind => FineTuningSpec.Kind;

    /// <inheritdoc />
    public async Task<string> RunAsync(JobRun run)
    {
        var spec = JsonSerializer.Deserialize<FineTuningSpec>(run.Job.Spec, RegistryJson.Options) ?? throw new JobFailedException("invalid_spec", "the job has no spec");
        await run.ReportAsync(new JobProgress { Percent = 0, Stage = ValidatingStage });
        var training = await ReadChatsAsync(spec.TrainingSha256, spec.TrainingFile, "training_file", run.CancellationToken);
        var validation = spec.ValidationSha256 is { } v ? await ReadChatsAsync(v, spec.ValidationFile!, "validation_file", run.CancellationToken) : [];
        var (baseVersion, basePath) = await ResolveBaseAsync(spec, run.CancellationToken);
        var resumed = await ResumeAsync(run);
        await run.ReportAsync(new JobProgress { Percent = 1, Stage = RunningStage, Epoch = resumed.AfterEpoch });
        await Message(run, $"Fine-tuning {spec.BaseModel} version {spec.BaseVersion} on {training.Count} chat{(training.Count == 1 ? "" : "s")} for {spec.Epochs} " +
            $"epoch{(spec.Epochs == 1 ? "" : "s")}");
        if (spec.ValidationSha256 is not null && spec.ValidationSha256 == spec.TrainingSha256 && resumed.Model is null)
        {
            await Message(run, "The validation file holds the same chats as the training file: its loss measures chats the model trains on, not held-out ones");
        }

        var result = Train(run, spec, basePath, training, validation, resumed);
        await WaitIfCancelRequestedAsync(run);
        await run.ReportAsync(new JobProgress { Percent = 96, Stage = "registering" });
        var trainedTokens = result.Windows * (long)result.Window * spec.Epochs;
        var version = await RegisterAsync(run, spec, baseVersion, result, resumed.Epochs, trainedTokens, resumed.BaseValidationLoss);
        // Named as its tenant calls it: the short name of its own model.
        var fineTuned = $"{ModelKeys.RelativeTo(spec.TargetModel, run.Job.Tenant)}:{run.Job.Id}";
        await Message(run, $"The fine-tuned model {fineTuned} (version {version}) is ready");
        return JsonSerializer.Serialize(new FineTuningResult(fineTuned, spec.TargetModel, version, trainedTokens, resumed.BaseValidationLoss ?? result.BaseValidationLoss,
            resumed.Epochs), RegistryJson.Options);
    }

    // Where an earlier attempt of the job left off: its last finished epoch's checkpoint (a whole model, copied into
    // the work folder; null to start from the base model), that epoch, the epochs' metrics so far and the base model's
    // validation loss. Epochs grows as this attempt trains.
    private sealed record Resumption(string? Model, int AfterEpoch, List<FineTuningEpochMetrics> Epochs, double? BaseValidationLoss);

    // The base model version and its local file; the job fails with model_not_found when it was deleted since submission.
    private async Task<(ResolvedVersion Version, string Path)> ResolveBaseAsync(FineTuningSpec spec, CancellationToken cancellationToken)
    {
        try
        {
            var baseVersion = await registry.ResolveAsync(new ModelReference(spec.BaseModel, Version: spec.BaseVersion), cancellationToken);
            return (baseVersion, await registry.GetLocalArtifactPathAsync(baseVersion.Version, cancellationToken));
        }
        catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound)
        {
            throw new JobFailedException("model_not_found", $"the base model {spec.BaseModel} version {spec.BaseVersion} is gone: {e.Message}");
        }
    }

    // Resume after the last epoch an earlier attempt finished (its checkpoint is a whole model).
    private static async Task<Resumption> ResumeAsync(JobRun run)
    {
        if (run.Job.Checkpoint is not { Stage: var stage } || !stage.StartsWith("epoch-", StringComparison.Ordinal)
            || !int.TryParse(stage.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var done) || await run.CheckpointFileAsync() is not { } file)
        {
            return new Resumption(null, 0, [], null);
        }

        var resume = Path.Combine(run.WorkDir, "resume.gguf");
        File.Copy(file, resume);
        await Message(run, $"Resuming from the checkpoint of epoch {done} saved by an earlier attempt");
        var epochs = new List<FineTuningEpochMetrics>();
        double? baseValidationLoss = null;
        if (run.Job.Checkpoint.Data is { } data && JsonSerializer.Deserialize<FineTuningCheckpointData>(data, RegistryJson.Options) is { } saved)
        {
            epochs.AddRange(saved.Epochs);
            baseValidationLoss = saved.BaseValidationLoss;
        }

        return new Resumption(resume, done, epochs, baseValidationLoss);
    }

    // Trains with llama.cpp (from the resumed checkpoint, if any), an event and a checkpoint after each epoch, giving
    // way to this process's serving; a refusal of the chats or a failure of llama.cpp fails the job.
    private LlamaFineTuneResult Train(JobRun run, FineTuningSpec spec, string basePath, List<LlamaTrainingChat> training, List<LlamaTrainingChat> validation, Resumption resumed)
    {
        var gate = servingYield?.NewGate();
        string Stage() => gate?.Stage(RunningStage, YieldingStage) ?? RunningStage;
        gate?.ReportTo(run, YieldingEventType, "fine-tuning", RunningStage, YieldingStage);

        var counted = (Steps: 0L, Waited: TimeSpan.Zero);
        var epochs = resumed.Epochs;
        try
        {
            return LlamaFineTuner.Run(
                basePath,
                training,
                validation,
                TunerOptions(run, spec, resumed, gate),
                epoch =>
                {
                    // What this epoch gave way to serving: the gate's counters since the last epoch.
                    var now = (Steps: gate?.ServingBatches ?? 0, Waited: gate?.Waited ?? TimeSpan.Zero);
                    var yielded = (Steps: now.Steps - counted.Steps, Seconds: (now.Waited - counted.Waited).TotalSeconds);
                    counted = now;
                    OnEpoch(run, spec, epoch, epochs, resumed.BaseValidationLoss, yielded).GetAwaiter().GetResult();
                },
                fraction => run.ReportAsync(new JobProgress
                {
                    Percent = Math.Round(1 + (fraction * 94), 2),
                    Stage = Stage(),
                    Epoch = epochs.Count > 0 ? epochs[^1].Epoch : resumed.AfterEpoch,
                }).GetAwaiter().GetResult(),
                run.CancellationToken);
        }
        catch (LlamaFineTuneRefusedException e)
        {
            throw new JobFailedException("invalid_training_data", e.Message);
        }
        catch (LlamaException e)
        {
            logger.LogError(e, "Fine-tuning job {Id} failed in llama.cpp", run.Job.Id);
            throw new JobFailedException("training_failed", "llama.cpp failed while training; see the worker's log");
        }
    }

    private LlamaFineTuneOptions TunerOptions(JobRun run, FineTuningSpec spec, Resumption resumed, ServingYieldGate? gate) => new()
    {
        Epochs = spec.Epochs,
        LearningRate = (float)spec.LearningRate,
        Window = spec.Window,
        ChatsPerStep = spec.BatchSize,
        Threads = Math.Clamp(options.Threads, 1, Math.Max(1, Environment.ProcessorCount)),
        Seed = spec.Seed,
        TrainedLayers = spec.TrainedLayers,
        WorkFolder = Path.Combine(run.WorkDir, "train"),
        ResumeCheckpoint = resumed.Model,
        ResumeAfterEpoch = resumed.AfterEpoch,
        Gate = gate,
        // Also makes the registered file differ from the last checkpoint, which the worker deletes on success.
        ResultMetadata = new Dictionary<string, string>
        {
            ["maas.fine_tuning.job"] = run.Job.Id,
            ["maas.fine_tuning.base"] = $"{spec.BaseModel}/versions/{spec.BaseVersion}",
        },
    };

    // A cancel that came while the last windows trained: its caller was told "cancelled", so nothing may be
    // registered. The worker's heartbeat turns the request into this run's cancellation within a beat.
    private static async Task WaitIfCancelRequestedAsync(JobRun run)
    {
        if ((await run.Queue.GetAsync(run.Job.Id, run.CancellationToken))?.CancelRequested == true)
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, run.CancellationToken);
        }
    }

    private async Task OnEpoch(JobRun run, FineTuningSpec spec, LlamaFineTuneEpoch epoch, List<FineTuningEpochMetrics> epochs, double? baseValidationLoss, (long Steps,
        double Seconds) yielded)
    {
        CheckFinite(epoch, spec.LearningRate);
        var metrics = new FineTuningEpochMetrics(
            epoch.Epoch, epoch.Steps, epoch.TrainingLoss, epoch.ValidationLoss, epoch.Seconds > 0 ? epoch.TrainedTokens / epoch.Seconds : 0, yielded.Steps,
                Math.Round(yielded.Seconds, 3));
        epochs.Add(metrics);
        await run.EventAsync(MetricsEventType, metrics);
        await run.SaveCheckpointAsync($"epoch-{epoch.Epoch}", epoch.Checkpoint, new FineTuningCheckpointData(baseValidationLoss ?? epoch.StartValidationLoss, epochs));
        await run.EventAsync(CheckpointEventType, metrics);
        var valid = epoch.ValidationLoss is { } loss ? $", validation loss {loss.ToString("F4", CultureInfo.InvariantCulture)}" : "";
        // OpenAI's clients read an epoch's numbers as a message; `epoch` tells readers of the metrics event (the CLI) it repeats them.
        var message = $"Epoch {epoch.Epoch}/{spec.Epochs}: training loss {epoch.TrainingLoss.ToString("F4", CultureInfo.InvariantCulture)}{valid}";
        await run.EventAsync(MessageEventType, new { message, epoch = epoch.Epoch });
    }

    /// <summary>
    /// A loss that is not a number means the weights are no longer numbers either: the job fails saying so (nothing to
    /// keep), rather than on the JSON of its metrics event, which cannot carry NaN, as an unexpected error.
    /// </summary>
    internal static void CheckFinite(LlamaFineTuneEpoch epoch, double learningRate)
    {
        if (!double.IsFinite(epoch.TrainingLoss) || epoch.ValidationLoss is { } v && !double.IsFinite(v))
        {
            var which = !double.IsFinite(epoch.TrainingLoss)
                ? $"training loss {epoch.TrainingLoss.ToString(CultureInfo.InvariantCulture)}"
                : $"validation loss {epoch.ValidationLoss!.Value.ToString(CultureInfo.InvariantCulture)}";
            throw new JobFailedException(
                "training_diverged",
                $"epoch {epoch.Epoch}: the {which} is not a finite number (training diverged at learning rate {learningRate.ToString("G3", CultureInfo.InvariantCulture)}); " +
                $"nothing was registered. Lower learning_rate_multiplier");
        }
    }

    private static Task Message(JobRun run, string message) => run.EventAsync(MessageEventType, new { message });

    private async Task<List<LlamaTrainingChat>> ReadChatsAsync(string sha, string fileId, string param, CancellationToken cancellationToken)
    {
        byte[] bytes;
        try
        {
            using var content = await artifacts.OpenAsync(sha, null, cancellationToken);
            using var buffer = new MemoryStream();
            await content.Stream.CopyToAsync(buffer, cancellationToken);
            bytes = buffer.ToArray();
        }
        catch (FileNotFoundException)
        {
            throw new JobFailedException("file_not_found", $"{param} {fileId} was deleted before the job could read it");
        }

        try
        {
            return ChatFile.Parse(bytes, int.MaxValue)
                .Select(chat => new LlamaTrainingChat(chat.Select(m => new LlamaChatMessage(m.Role, m.Content)).ToList()))
                .ToList();
        }
        catch (ChatFileException e)
        {
            throw new JobFailedException("invalid_file_format", $"{param} {fileId}: {e.Message}");
        }
    }

    // The target model's name within its owner's namespace (the spec holds its key).
    private static string TargetName(FineTuningSpec spec) =>
        ModelKeys.TrySplit(spec.TargetModel, out _, out var name) ? name : spec.TargetModel;

    /// <summary>The alias of a job's epoch checkpoint in its target model: <c>fine_tuned_model_checkpoint</c> is <c>&lt;target&gt;:&lt;alias&gt;</c>.</summary>
    public static string CheckpointAlias(string jobId, int epoch) => $"{jobId}-epoch-{epoch}";

    /// <summary>The first epoch whose checkpoint a succeeded job keeps callable (the last <paramref name="kept"/> epochs).</summary>
    public static int FirstKeptEpoch(int epochs, int kept) => Math.Max(1, epochs - kept + 1);

    private async Task<int> RegisterAsync(
        JobRun run, FineTuningSpec spec, ResolvedVersion baseVersion, LlamaFineTuneResult result, List<FineTuningEpochMetrics> epochs, long trainedTokens,
        double? baseValidationLoss)
    {
        // The point of no return, right before the effects that must happen once: a cancel that came first (even after
        // the job's last look at its token) stops it here with nothing registered, one after it is refused; a worker
        // that lost its lease stops here too.
        await run.BeginFinishingAsync();
        try
        {
            await registry.GetModelAsync(spec.TargetModel, CancellationToken.None);
        }
        catch (RegistryException e) when (e.Code == "model_not_found")
        {
            try
            {
                await registry.CreateModelAsync(
                    new NewModel(TargetName(spec), $"{spec.BaseModel} fine-tuned", ["fine-tuned", "llm"], "text-generation", ModelVisibility.Private, run.Job.Tenant,
                        spec.CreatedBy),
                    CancellationToken.None);
            }
            catch (RegistryException exists) when (exists.Code == "model_exists")
            {
                // Created by a concurrent job of the same tenant.
            }
        }

        // The kept epochs' checkpoints before the final model, so the model's latest version is the final one. Each is
        // a version of its own (from the checkpoint file the job stored, shared content-addressed), aliased
        // "<job>-epoch-<n>"; the last epoch's alias points at the final model, which is that epoch's weights.
        var versions = await registry.ListVersionsAsync(spec.TargetModel, CancellationToken.None);
        var stored = await CheckpointFilesAsync(run);
        var firstKept = FirstKeptEpoch(spec.Epochs, options.KeptCheckpoints);
        for (var epoch = firstKept; epoch < spec.Epochs; epoch++)
        {
            var marker = $"{run.Job.Id}/epoch-{epoch}";
            var number = versions.FirstOrDefault(v => v.Metadata.TryGetValue(CheckpointMetadataKey, out var m) && m == marker)?.Version;
            if (number is null)
            {
                if (!stored.TryGetValue(epoch, out var key))
                {
                    await Message(run, $"The checkpoint of epoch {epoch} was not stored, so it is not callable");
                    continue;
                }

                var metadata = new Dictionary<string, string>
                {
                    [CheckpointMetadataKey] = marker,
                    [LineageMetadataKey] = JsonSerializer.Serialize(
                    Lineage(run, spec, baseVersion, baseValidationLoss ?? result.BaseValidationLoss, [.. epochs.Where(e => e.Epoch <= epoch)], null, epoch), RegistryJson.Options),
                };
                number = await RegisterFileAsync(spec, baseVersion, metadata, await artifacts.GetLocalPathAsync(key, null, CancellationToken.None));
            }

            await registry.SetAliasAsync(spec.TargetModel, CheckpointAlias(run.Job.Id, epoch), number.Value, AliasPrecondition.None, spec.CreatedBy, CancellationToken.None);
        }

        var existing = versions.FirstOrDefault(v => v.Metadata.TryGetValue(JobMetadataKey, out var job) && job == run.Job.Id);
        int final;
        if (existing is not null)
        {
            final = existing.Version; // an earlier attempt registered it and died before it could say so
        }
        else
        {
            var metadata = new Dictionary<string, string>
            {
                [JobMetadataKey] = run.Job.Id,
                [LineageMetadataKey] = JsonSerializer.Serialize(Lineage(run, spec, baseVersion, baseValidationLoss ?? result.BaseValidationLoss, epochs, trainedTokens),
                RegistryJson.Options),
            };
            final = await RegisterFileAsync(spec, baseVersion, metadata, result.ModelPath);
        }

        await registry.SetAliasAsync(spec.TargetModel, run.Job.Id, final, AliasPrecondition.None, spec.CreatedBy, CancellationToken.None);
        await registry.SetAliasAsync(spec.TargetModel, CheckpointAlias(run.Job.Id, spec.Epochs), final, AliasPrecondition.None, spec.CreatedBy, CancellationToken.None);

        // The checkpoints of epochs no longer kept are not versions, so the worker drops their files when the job ends.
        return final;
    }

    /// <summary>The stored checkpoint file of each finished epoch, from the job's checkpoint events (a later attempt's wins).</summary>
    private static async Task<Dictionary<int, string>> CheckpointFilesAsync(JobRun run)
    {
        var files = new Dictionary<int, string>();
        for (long after = 0; ;)
        {
            var page = await run.Queue.ListEventsAsync(run.Job.Id, after, 1000, CancellationToken.None);
            foreach (var e in page.Where(e => e.Type == "checkpoint"))
            {
                using var data = JsonDocument.Parse(e.Data);
                if (data.RootElement.TryGetProperty("stage", out var stage) && stage.GetString() is { } name && name.StartsWith("epoch-", StringComparison.Ordinal)
                    && int.TryParse(name.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var epoch)
                    && data.RootElement.TryGetProperty("artifact", out var artifact) && artifact.GetString() is { } key)
                {
                    files[epoch] = key;
                }
            }

            if (page.Count < 1000)
            {
                return files;
            }

            after = page[^1].Seq;
        }
    }

    private async Task<int> RegisterFileAsync(FineTuningSpec spec, ResolvedVersion baseVersion, Dictionary<string, string> metadata, string path)
    {
        await using var draft = await registry.BeginVersionAsync(
            spec.TargetModel,
            new NewVersionOptions { Metadata = metadata, CreatedBy = spec.CreatedBy, DerivedFrom = new Lineage(baseVersion.Model.Key, baseVersion.Version.Version, "fine-tuned") },
            CancellationToken.None);
        await using (var file = File.OpenRead(path))
        {
            await draft.AddFileAsync("model.gguf", file, null, CancellationToken.None);
        }

        return (await registry.CommitVersionAsync(draft, CancellationToken.None)).Version;
    }

    private static Dictionary<string, object?> Lineage(
        JobRun run, FineTuningSpec spec, ResolvedVersion baseVersion, double? baseValidationLoss, IReadOnlyList<FineTuningEpochMetrics> epochs, long? trainedTokens,
        int? checkpointEpoch = null) => new()
        {
            ["base_model"] = new Dictionary<string, object?>
            {
                ["name"] = baseVersion.Model.Key,
                ["version"] = baseVersion.Version.Version,
                ["sha256"] = baseVersion.Version.Sha256
            },
            ["training_file"] = new Dictionary<string, object?> { ["id"] = spec.TrainingFile, ["sha256"] = spec.TrainingSha256 },
            ["validation_file"] = spec.ValidationFile is null ? null : new Dictionary<string, object?> { ["id"] = spec.ValidationFile, ["sha256"] = spec.ValidationSha256 },
            ["hyperparameters"] = new Dictionary<string, object?>
            {
                ["n_epochs"] = spec.Epochs,
                ["batch_size"] = spec.BatchSize,
                ["learning_rate_multiplier"] = spec.LearningRateMultiplier,
                ["learning_rate"] = spec.LearningRate,
                ["train_last_layers"] = spec.TrainedLayers,
                ["window"] = spec.Window,
                ["optimizer"] = "adamw",
            },
            ["seed"] = spec.Seed,
            ["job"] = run.Job.Id,
            ["checkpoint_epoch"] = checkpointEpoch,
            ["base_validation_loss"] = baseValidationLoss,
            ["epochs"] = epochs,
            ["trained_tokens"] = trainedTokens,
            ["engine"] = "llama.cpp llama_opt (node-llama-cpp 3.22.1 build)",
        };
}
