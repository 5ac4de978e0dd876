using Maas.Core.Jobs.Queue;
using Maas.Core.Registry;
using Maas.Core.Training;
using Maas.Server.Jobs;

namespace Maas.Server.Training;

/// <summary>A training job (or a search's trial) as the API shows it.</summary>
public sealed record TrainingJobResponse : WorkerJobView
{
    private TrainingJobResponse(QueuedJob job, string? tenant)
        : base(job, tenant)
    {
        var spec = ReadSpec(job);
        Model = Named(spec?.Model, tenant);
        Dataset = spec is null ? null : $"{spec.Dataset.Name}:{spec.Dataset.Version}";
        Task = spec?.Task;
        Trainer = spec?.Trainer;
        SearchTrials = spec?.Search?.Trials.Count;
        Epoch = job.Progress.Epoch;
        Iteration = job.Progress.Iteration;
        Metrics = job.Progress.Metrics ?? new Dictionary<string, double>();
        EtaSeconds = job.IsFinished ? null : job.Progress.EtaSeconds;
    }

    // A search's trials are shown like training jobs: their spec wraps the training they run. A spec this version
    // cannot read (written by another version of the server) leaves its fields empty: one such job used to turn the
    // whole list into a 400 "the request body is not valid JSON".
    private static TrainingSpec? ReadSpec(QueuedJob job) => job.Kind == TrialSpec.Kind
        ? RegistryJson.TryDeserialize<TrialSpec>(job.Spec)?.Training
        : RegistryJson.TryDeserialize<TrainingSpec>(job.Spec);

    /// <summary>The model it registers into.</summary>
    public string? Model { get; init; }

    /// <summary>The dataset version it trains from ("name:version").</summary>
    public string? Dataset { get; init; }

    /// <summary>The task.</summary>
    public string? Task { get; init; }

    /// <summary>The trainer.</summary>
    public string? Trainer { get; init; }

    /// <summary>How many trials the job's hyperparameter search runs (null without a search); while it runs, <see cref="Iteration"/> counts those finished.</summary>
    public int? SearchTrials { get; init; }

    /// <summary>The epoch (trainers with epochs).</summary>
    public int? Epoch { get; init; }

    /// <summary>The iteration (trainers that report them).</summary>
    public long? Iteration { get; init; }

    /// <summary>The latest metrics.</summary>
    public IReadOnlyDictionary<string, double> Metrics { get; init; }

    /// <summary>Estimated seconds left.</summary>
    public double? EtaSeconds { get; init; }

    /// <inheritdoc />
    public override string Url => $"/api/v1/training/jobs/{Id}";

    /// <summary>The API view of a queued training job; models are named as <paramref name="tenant"/> names them (null: by key).</summary>
    public static TrainingJobResponse From(QueuedJob job, string? tenant = null) => new(job, tenant);
}
