using Maas.Core.Jobs;
using Maas.Runtimes.Llama.Training;
using Maas.Server.FineTuning;
using Maas.Training;

namespace Maas.Server.Tests.Training;

/// <summary>
/// A fit that diverged scores NaN or infinity: the job fails as training_diverged saying so, rather than registering the
/// model or failing as an unexpected error on JSON, which cannot carry NaN (the metrics events are JSON).
/// </summary>
public sealed class NonFiniteScoresTests
{
    [Fact]
    public void A_table_or_image_model_scoring_nan_or_infinity_is_not_evaluated()
    {
        var regression = Assert.Throws<JobFailedException>(() => TrainingJobHandler.Finite(new Predictions([1, double.NaN, double.PositiveInfinity], null, null), "test"));
        Assert.Equal("training_diverged", regression.Code);
        Assert.Contains("2 of 3 test rows", regression.Message, StringComparison.Ordinal);

        var classes = Assert.Throws<JobFailedException>(() => TrainingJobHandler.Finite(new Predictions(null, [0, 1], [[0.5, 0.5], [double.NaN, double.NaN]]), "validation"));
        Assert.Contains("1 of 2 validation rows", classes.Message, StringComparison.Ordinal);

        var fine = new Predictions(null, [0], [[0.25, 0.75]]);
        Assert.Same(fine, TrainingJobHandler.Finite(fine, "test"));
    }

    [Fact]
    public void A_fine_tuning_epoch_whose_loss_is_not_a_number_fails_the_job()
    {
        LlamaFineTuneEpoch Epoch(double train, double? valid) => new(2, train, valid, "checkpoint.gguf", 10, 2560, 1, null);
        var error = Assert.Throws<JobFailedException>(() => FineTuningJobHandler.CheckFinite(Epoch(double.NaN, 1.5), 0.01));
        Assert.Equal("training_diverged", error.Code);
        Assert.Contains("epoch 2: the training loss NaN is not a finite number", error.Message, StringComparison.Ordinal);
        Assert.Contains("validation loss Infinity", Assert.Throws<JobFailedException>(() => FineTuningJobHandler.CheckFinite(Epoch(2.5, double.PositiveInfinity), 0.01)).Message,
            StringComparison.Ordinal);
        FineTuningJobHandler.CheckFinite(Epoch(2.5, null), 0.01);
        FineTuningJobHandler.CheckFinite(Epoch(2.5, 2.4), 0.01);
    }
}
