using Maas.Core.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Microsoft.ML.Trainers.FastTree;
using Microsoft.ML.Trainers.LightGbm;
using Microsoft.ML.Transforms;

namespace Maas.Training;

/// <summary>
/// Builds and fits the ML.NET pipeline of a tabular job (imputation, one-hot, normalisation, the trainer), scores
/// rows with it, and exports it to ONNX with the feature columns as its only inputs.
/// </summary>
/// <remarks>
/// The label is mapped before the pipeline (multiclass: class index to key) so the exported model does not take it;
/// predicted classes come from the score vector, whose order is the class index order. When <see cref="Cancellation"/>
/// fires, whatever ML.NET runs on the context (a fit, scoring, the export) throws at its next check
/// (<see cref="MlNetCancellation"/>); the context cannot be used after that.
/// </remarks>
internal sealed class TabularTrainer : IDisposable
{
    private const string FeaturesColumn = "Features";
    private const string LabelColumn = "Label";

    // LightGBM's boosting iterations and L-BFGS's iterations when the job does not say.
    private const int DefaultIterations = 100;
    private readonly TabularData _data;
    private readonly int _threads;
    private readonly CancellationTokenRegistration _stop;

    public TabularTrainer(TabularData data, int threads, CancellationToken cancellation = default)
    {
        _data = data;
        _threads = threads;
        Context = new MLContext(seed: data.Spec.Split.Seed);
        Cancellation = cancellation;
        _stop = MlNetCancellation.CancelOn(Context, cancellation);
    }

    public MLContext Context { get; }

    /// <summary>The job's token, which stops ML.NET's work on <see cref="Context"/>.</summary>
    public CancellationToken Cancellation { get; }

    /// <summary>
    /// What ML.NET threw once <see cref="Cancellation"/> fired, as the job's cancellation (a trainer's check throws
    /// <see cref="OperationCanceledException"/>, which FastTree's parallel split search wraps in an
    /// <see cref="AggregateException"/> and ML.NET's cursors may wrap in an <see cref="InvalidOperationException"/>);
    /// null when the token has not fired, so the exception is the work's own.
    /// </summary>
    public OperationCanceledException? AsCancellation(Exception e) => Cancellation.IsCancellationRequested
        ? e as OperationCanceledException ?? new OperationCanceledException("the job was stopped while ML.NET was working", e, Cancellation)
        : null;

    /// <summary>Stops watching the token (the context's work is over; a later cancel leaves it alone).</summary>
    public void Dispose() => _stop.Dispose();

    private TrainingSpec Spec => _data.Spec;

    /// <summary>Loads a TSV written by <see cref="TabularData.Write"/>.</summary>
    public IDataView Load(string path, bool withLabel)
    {
        var columns = Spec.Features.Select((f, i) => new TextLoader.Column(f.Name, f.Type == TabularFeature.Number ? DataKind.Single : DataKind.String, i)).ToList();
        if (withLabel)
        {
            var kind = Spec.Task switch
            {
                TrainingNames.Binary => DataKind.Boolean,
                _ => DataKind.Single,
            };
            columns.Add(new TextLoader.Column(LabelColumn, kind, Spec.Features.Count));
        }

        return Context.Data.LoadFromTextFile(path, new TextLoader.Options
        {
            Columns = [.. columns],
            Separators = ['\t'],
            HasHeader = false,
            AllowQuoting = true,
            ReadMultilines = true,
            MissingRealsAsNaNs = true,
            TrimWhitespace = false,
        });
    }

    /// <summary>The label mapping applied before the model (multiclass: class index to key, by value).</summary>
    public ITransformer LabelMapping(IDataView data) => Spec.Task == TrainingNames.Multiclass
        ? Context.Transforms.Conversion.MapValueToKey(LabelColumn, keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(data)
        : new TransformerChain<ITransformer>();

    /// <summary>Fits featurisation and the trainer on labelled (already label-mapped) rows.</summary>
    public ITransformer Fit(IDataView train)
    {
        var numbers = Spec.Features.Where(f => f.Type == TabularFeature.Number).Select(f => f.Name).ToArray();
        var categories = Spec.Features.Where(f => f.Type == TabularFeature.Category).Select(f => f.Name).ToArray();
        IEstimator<ITransformer> pipeline = new EstimatorChain<ITransformer>();
        var featureColumns = new List<string>();
        if (numbers.Length > 0)
        {
            // Missing numbers take the column's mean, so the model and its ONNX export agree on rows with gaps.
            pipeline = pipeline.Append(Context.Transforms.ReplaceMissingValues(numbers.Select(n => new InputOutputColumnPair(n)).ToArray(),
                MissingValueReplacingEstimator.ReplacementMode.Mean));
            featureColumns.AddRange(numbers);
        }

        foreach (var category in categories)
        {
            pipeline = pipeline.Append(Context.Transforms.Categorical.OneHotEncoding(category + "__onehot", category));
            featureColumns.Add(category + "__onehot");
        }

        pipeline = pipeline.Append(Context.Transforms.Concatenate(FeaturesColumn, featureColumns.ToArray()));
        if (Spec.Trainer is "sdca" or "lbfgs" && Spec.Task != TrainingNames.Regression)
        {
            // Linear classifiers need comparable feature scales; trees do not care, and SDCA regression converged
            // worse on scaled features in our runs (y = 2x + 1: RMSE 0.5-0.9 scaled, 0.31 unscaled, noise 0.29).
            pipeline = pipeline.Append(Context.Transforms.NormalizeMinMax(FeaturesColumn));
        }

        // The featurised rows cached in memory before the trainer: its passes (SDCA's epochs, L-BFGS's iterations,
        // the trees' bins) then read and shuffle them in place. Without it every pass went through ML.NET's row
        // shuffler, which hands rows between threads: on a host whose cores are taken by other work (serving beside
        // training) each hand-off waits for the scheduler, and a 40-row fit ran for minutes.
        return pipeline.AppendCacheCheckpoint(Context).Append(Trainer()).Fit(train);
    }

    /// <summary>
    /// The trees the fit builds when its trainer says as it starts each (FastTree: the trees asked for, times the classes
    /// of a one-versus-all multiclass fit); null for trainers that say nothing during a fit (<see cref="FitProgress"/>).
    /// </summary>
    public (int Total, int Classes)? TreesToFit => Spec.Trainer == "fasttree"
        ? ((HyperInt("trees") ?? new FastTreeRegressionTrainer.Options().NumberOfTrees) * (Spec.Task == TrainingNames.Multiclass ? _data.Classes?.Count ?? 1 : 1),
            Spec.Task == TrainingNames.Multiclass ? _data.Classes?.Count ?? 1 : 1)
        : null;

    /// <summary>
    /// The computation whose counter ML.NET's trainer keeps on its progress channel during the fit (<see cref="MlNetProgress"/>)
    /// and the iterations it may run: LightGBM's boosting iterations, SDCA's passes over the rows (null when not given:
    /// SDCA picks them, and its channel says how many), L-BFGS's iterations; null for FastTree, which says more through
    /// the log (<see cref="TreesToFit"/>).
    /// </summary>
    public (string Computation, int? Total)? IterationsToFit => Spec.Trainer switch
    {
        "lightgbm" => ("Training with LightGBM", HyperInt("iterations") ?? DefaultIterations),
        "sdca" => ("SDCA training", HyperInt("iterations")),
        "lbfgs" => ("LBFGS Optimizer", HyperInt("iterations") ?? DefaultIterations),
        _ => null,
    };

    private double? Hyper(string name) => Spec.Hyperparameters.TryGetValue(name, out var v) ? v : null;

    private int? HyperInt(string name) => Hyper(name) is { } v ? (int)Math.Round(v) : null;

    private IEstimator<ITransformer> Trainer()
    {
        return (Spec.Task, Spec.Trainer) switch
        {
            (TrainingNames.Regression, "lightgbm") => Context.Regression.Trainers.LightGbm(LightGbm(new LightGbmRegressionTrainer.Options())),
            (TrainingNames.Binary, "lightgbm") => Context.BinaryClassification.Trainers.LightGbm(LightGbm(new LightGbmBinaryTrainer.Options())),
            (TrainingNames.Multiclass, "lightgbm") => Context.MulticlassClassification.Trainers.LightGbm(LightGbm(new LightGbmMulticlassTrainer.Options())),
            (TrainingNames.Regression, "fasttree") => Context.Regression.Trainers.FastTree(FastTree(new FastTreeRegressionTrainer.Options())),
            (TrainingNames.Binary, "fasttree") => Context.BinaryClassification.Trainers.FastTree(FastTree(new FastTreeBinaryTrainer.Options())),
            (TrainingNames.Multiclass, "fasttree") => Context.MulticlassClassification.Trainers.OneVersusAll(
                Context.BinaryClassification.Trainers.FastTree(FastTree(new FastTreeBinaryTrainer.Options())), LabelColumn, useProbabilities: true),
            (TrainingNames.Regression, "sdca") => Context.Regression.Trainers.Sdca(Filled(new SdcaRegressionTrainer.Options(), Sdca)),
            (TrainingNames.Binary, "sdca") => Context.BinaryClassification.Trainers.SdcaLogisticRegression(Filled(new SdcaLogisticRegressionBinaryTrainer.Options(), Sdca)),
            (TrainingNames.Multiclass, "sdca") => Context.MulticlassClassification.Trainers.SdcaMaximumEntropy(Filled(new SdcaMaximumEntropyMulticlassTrainer.Options(), Sdca)),
            (TrainingNames.Binary, "lbfgs") => Context.BinaryClassification.Trainers.LbfgsLogisticRegression(Filled(new LbfgsLogisticRegressionBinaryTrainer.Options(), Lbfgs)),
            (TrainingNames.Multiclass, "lbfgs") => Context.MulticlassClassification.Trainers.LbfgsMaximumEntropy(Filled(new LbfgsMaximumEntropyMulticlassTrainer.Options(), Lbfgs)),
            _ => throw new Maas.Core.Jobs.JobFailedException("invalid_spec", $"trainer '{Spec.Trainer}' does not do {Spec.Task}"),
        };
    }

    // The three LightGBM option types share a generic base; one place fills what every task's trainer takes.
    private TOptions LightGbm<TOptions, TOutput, TTransformer, TModel>(LightGbmTrainerBase<TOptions, TOutput, TTransformer, TModel>.OptionsBase options)
        where TOptions : LightGbmTrainerBase<TOptions, TOutput, TTransformer, TModel>.OptionsBase, new()
        where TTransformer : ISingleFeaturePredictionTransformer<TModel>
        where TModel : class
    {
        options.LabelColumnName = LabelColumn;
        options.FeatureColumnName = FeaturesColumn;
        options.NumberOfIterations = HyperInt("iterations") ?? DefaultIterations;
        options.LearningRate = Hyper("learning_rate");
        options.NumberOfLeaves = HyperInt("leaves");
        options.MinimumExampleCountPerLeaf = HyperInt("min_examples_per_leaf");
        options.NumberOfThreads = _threads;
        options.Seed = Spec.Split.Seed;
        options.Silent = true;
        return (TOptions)options;
    }

    // The three SDCA option types derive from the shared base through task bases of their own, so a generic helper
    // cannot return the concrete type; it fills the base, and Filled hands back the object it was given (L-BFGS's alike).
    private void Sdca<TOptions, TTransformer, TModel>(SdcaTrainerBase<TOptions, TTransformer, TModel>.OptionsBase options)
        where TOptions : SdcaTrainerBase<TOptions, TTransformer, TModel>.OptionsBase, new()
        where TTransformer : ISingleFeaturePredictionTransformer<TModel>
        where TModel : class
    {
        options.LabelColumnName = LabelColumn;
        options.FeatureColumnName = FeaturesColumn;
        options.MaximumNumberOfIterations = HyperInt("iterations");
        options.L2Regularization = Hyper("l2") is { } l2 ? (float)l2 : null;
        options.L1Regularization = Hyper("l1") is { } l1 ? (float)l1 : null;
        options.NumberOfThreads = 1; // with more threads SDCA is not deterministic for a seed
    }

    private void Lbfgs<TOptions, TTransformer, TModel>(LbfgsTrainerBase<TOptions, TTransformer, TModel>.OptionsBase options)
        where TOptions : LbfgsTrainerBase<TOptions, TTransformer, TModel>.OptionsBase, new()
        where TTransformer : ISingleFeaturePredictionTransformer<TModel>
        where TModel : class
    {
        options.LabelColumnName = LabelColumn;
        options.FeatureColumnName = FeaturesColumn;
        options.MaximumNumberOfIterations = HyperInt("iterations") ?? DefaultIterations;
        options.L2Regularization = (float)(Hyper("l2") ?? 1);
        options.L1Regularization = (float)(Hyper("l1") ?? 1);
        options.NumberOfThreads = _threads;
    }

    private static T Filled<T>(T options, Action<T> fill)
    {
        fill(options);
        return options;
    }

    private T FastTree<T>(T options)
        where T : BoostedTreeOptions
    {
        options.LabelColumnName = LabelColumn;
        options.FeatureColumnName = FeaturesColumn;
        options.NumberOfTrees = HyperInt("trees") ?? options.NumberOfTrees;
        options.LearningRate = Hyper("learning_rate") ?? options.LearningRate;
        options.NumberOfLeaves = HyperInt("leaves") ?? options.NumberOfLeaves;
        options.MinimumExampleCountPerLeaf = HyperInt("min_examples_per_leaf") ?? options.MinimumExampleCountPerLeaf;
        options.NumberOfThreads = _threads;
        options.Seed = Spec.Split.Seed;
        return options;
    }

    /// <summary>Scores rows (the model's transform of label-mapped or feature-only rows).</summary>
    public IDataView Score(ITransformer model, IDataView data) => model.Transform(data);

    /// <summary>Exports the model to ONNX; <paramref name="featuresOnly"/> fixes its inputs to the feature columns.</summary>
    public void Export(ITransformer model, IDataView featuresOnly, string path)
    {
        using var file = File.Create(path);
        Context.Model.ConvertToOnnx(model, featuresOnly, file);
    }

    /// <summary>Saves the fitted model (the checkpoint a worker that takes over resumes from).</summary>
    public void Save(ITransformer model, IDataView train, string path) => Context.Model.Save(model, train.Schema, path);

    /// <summary>Loads a saved model.</summary>
    public ITransformer Load(string path) => Context.Model.Load(path, out _);
}
