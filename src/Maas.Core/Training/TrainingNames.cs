namespace Maas.Core.Training;

/// <summary>The task and trainer names training accepts.</summary>
public static class TrainingNames
{
    /// <summary>Regression.</summary>
    public const string Regression = "regression";

    /// <summary>Two classes.</summary>
    public const string Binary = "binary-classification";

    /// <summary>Two or more classes.</summary>
    public const string Multiclass = "multiclass-classification";

    /// <summary>Images: a neural network trained by ggml-opt.</summary>
    public const string ImageClassification = "image-classification";

    /// <summary>The trainers of each tabular task.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> Trainers { get; } = new Dictionary<string, IReadOnlyList<string>>
    {
        [Regression] = ["lightgbm", "fasttree", "sdca"],
        [Binary] = ["lightgbm", "fasttree", "sdca", "lbfgs"],
        [Multiclass] = ["lightgbm", "fasttree", "sdca", "lbfgs"],
        [ImageClassification] = ["adamw", "sgd"],
    };

    /// <summary>The hyperparameters each trainer takes, with their allowed range.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyDictionary<string, (double Min, double Max)>> Hyperparameters { get; } =
        new Dictionary<string, IReadOnlyDictionary<string, (double, double)>>
        {
            ["lightgbm"] = new Dictionary<string, (double, double)>
            {
                ["iterations"] = (1, 10_000),
                ["learning_rate"] = (1e-6, 1),
                ["leaves"] = (2, 4096),
                ["min_examples_per_leaf"] = (1, 100_000),
            },
            ["fasttree"] = new Dictionary<string, (double, double)>
            {
                ["trees"] = (1, 10_000),
                ["learning_rate"] = (1e-6, 1),
                ["leaves"] = (2, 4096),
                ["min_examples_per_leaf"] = (1, 100_000),
            },
            ["sdca"] = new Dictionary<string, (double, double)>
            {
                ["iterations"] = (1, 10_000),
                ["l2"] = (0, 1e6),
                ["l1"] = (0, 1e6),
            },
            ["lbfgs"] = new Dictionary<string, (double, double)>
            {
                ["l2"] = (0, 1e6),
                ["l1"] = (0, 1e6),
                ["iterations"] = (1, 100_000),
            },
            ["adamw"] = NetworkHyperparameters(),
            ["sgd"] = NetworkHyperparameters(),
        };

    /// <summary>
    /// The hyperparameters that count something (iterations, trees, leaves, rows, epochs, pictures): whole numbers only, since a
    /// trainer would silently round 2.5 while the lineage kept 2.5.
    /// </summary>
    public static IReadOnlySet<string> WholeNumberHyperparameters { get; } =
        new HashSet<string>(StringComparer.Ordinal) { "iterations", "trees", "leaves", "min_examples_per_leaf", "epochs", "batch_size", "patience" };

    /// <summary>
    /// What the ggml trainers take: epochs (default 10), batch_size (32), learning_rate (0.001), weight_decay (0),
    /// patience (epochs without a better validation loss before stopping early; 3, 0 never stops), beta1 and beta2 (AdamW).
    /// </summary>
    private static Dictionary<string, (double, double)> NetworkHyperparameters() => new()
    {
        ["epochs"] = (1, 1000),
        ["batch_size"] = (1, 4096),
        ["learning_rate"] = (1e-7, 10),
        ["weight_decay"] = (0, 1),
        ["patience"] = (0, 1000),
        ["beta1"] = (0, 0.9999),
        ["beta2"] = (0, 0.99999),
    };

    /// <summary>
    /// The trainer used when none is named: AdamW for images; a linear model for small tables (under 1000 training rows: it
    /// generalises and extrapolates from few rows), LightGBM for larger ones.
    /// </summary>
    public static string DefaultTrainer(string task, long rows) =>
        task == ImageClassification ? "adamw" : rows < 1000 ? (task == Regression ? "sdca" : "lbfgs") : "lightgbm";
}
