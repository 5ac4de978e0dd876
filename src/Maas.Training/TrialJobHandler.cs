using System.Text.Json;
using Maas.Core.Datasets;
using Maas.Core.Jobs;
using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Training;
using Microsoft.ML;

namespace Maas.Training;

/// <summary>
/// Runs one trial of a hyperparameter search: fits the trial's hyperparameters on the training split (the same split as
/// its parent; ML.NET for tables, a ggml network for images) and reports the validation metrics. Nothing is exported or registered; the parent does that for the best.
/// </summary>
public sealed class TrialJobHandler(DatasetCatalog datasets, int threads, int nice = 0, ServingYield? servingYield = null) : IJobHandler, IReadsDatasets
{
    /// <inheritdoc />
    public string Kind => TrialSpec.Kind;

    /// <inheritdoc />
    public IEnumerable<DatasetReference> DatasetsOf(string spec) => SpecDatasets.Read<TrialSpec>(spec, s => [s.Training.Dataset]);

    /// <inheritdoc />
    public async Task<string> RunAsync(JobRun run)
    {
        var trial = JsonSerializer.Deserialize<TrialSpec>(run.Job.Spec, RegistryJson.Options) ?? throw new JobFailedException("invalid_spec", "the trial has no spec");
        var spec = trial.Training;
        await run.ReportAsync(new JobProgress { Percent = 5, Stage = "loading" });
        var version = await datasets.GetVersionAsync(spec.Dataset.Name, spec.Dataset.Version, run.CancellationToken);
        if (version.Sha256 != spec.Dataset.Sha256)
        {
            throw new JobFailedException("dataset_changed",
                $"dataset '{spec.Dataset.Name}' version {spec.Dataset.Version} no longer has the content the search was submitted with");
        }

        var data = TabularData.From(spec, await datasets.LoadAsync(version, run.CancellationToken));
        if (spec.Task == TrainingNames.ImageClassification)
        {
            var scores = await new ImageTrainingJob(run, spec, data, threads, nice, servingYield).TrialAsync();
            return JsonSerializer.Serialize(new TrialResult(trial.Index, spec.Hyperparameters, scores), RegistryJson.Options);
        }

        var (train, validation, _) = data.Split();
        if (train.Length < 2 || validation.Length < 1)
        {
            throw new JobFailedException("dataset_too_small", $"the split leaves {train.Length} training and {validation.Length} validation rows; a search needs both");
        }

        await run.ReportAsync(new JobProgress { Percent = 20, Stage = "training" });
        // A cancel (the search's, which cancels its trials) stops ML.NET at the trainer's next check, as in a training job.
        Dictionary<string, object?> metrics;
        using (var trainer = new TabularTrainer(data, threads, run.CancellationToken))
        {
            try
            {
                var trainView = trainer.Load(data.Write(Path.Combine(run.WorkDir, "train.tsv"), train, cancellationToken: run.CancellationToken), withLabel: true);
                var mapped = trainer.LabelMapping(trainView).Transform(trainView);
                ITransformer model;
                using (var progress = FitProgress.Watch(run, trainer, 20, 80))
                {
                    model = TrainingJobHandler.Fit(trainer, mapped, spec);
                    run.CancellationToken.ThrowIfCancellationRequested();
                    if (progress is not null)
                    {
                        await progress.FinishAsync(model, spec.Task);
                    }
                }

                await run.ReportAsync(new JobProgress { Percent = 80, Stage = "evaluating" });
                metrics = TrainingJobHandler.Evaluate(data, validation,
                    TrainingJobHandler.Finite(TrainingJobHandler.Predict(trainer, model, data, validation, run.WorkDir, "validation"), "validation"));
            }
            catch (Exception e) when (e is not OperationCanceledException && trainer.AsCancellation(e) is { } cancelled)
            {
                throw cancelled;
            }
        }

        var headline = Evaluator.Headline(metrics, "");
        await run.EventAsync("metrics", new { split = "validation", metrics });
        return JsonSerializer.Serialize(new TrialResult(trial.Index, spec.Hyperparameters, headline), RegistryJson.Options);
    }
}
