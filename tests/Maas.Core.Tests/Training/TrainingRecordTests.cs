using Maas.Core.Registry;
using Maas.Core.Training;

namespace Maas.Core.Tests.Training;

/// <summary>The one reader of the training record (maas.lineage) that evaluation and fine-tuning take defaults from.</summary>
public sealed class TrainingRecordTests
{
    private static ModelVersion With(string? record) => new()
    {
        ModelId = 1,
        Model = "m",
        Version = 1,
        Status = VersionStatus.Ready,
        Metadata = record is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [TabularModelInfo.LineageMetadataKey] = record },
    };

    [Fact]
    public void A_record_as_a_training_job_writes_it_gives_its_columns_trainer_and_split()
    {
        var record = TrainingRecord.Of(
            With("""{"dataset": {"name": "d", "version": 1}, "label": "y", "features": ["image"], "trainer": "sgd", "split": {"validation": 0.2, "test": 0.1, "seed": 7}}"""))!;
        Assert.Equal("y", record.Label);
        Assert.Equal(["image"], record.Features);
        Assert.Equal("image", record.ImageColumn);
        Assert.Equal("sgd", record.Trainer);
        Assert.Equal(new TrainingSplit { Validation = 0.2, Test = 0.1, Seed = 7 }, record.Split);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not json")]
    [InlineData("[1, 2]")]
    [InlineData("\"text\"")]
    public void No_record_or_one_that_is_not_a_JSON_object_reads_as_none(string? text) => Assert.Null(TrainingRecord.Of(With(text)));

    [Theory]
    [InlineData("""{"label": 7, "features": "x", "trainer": false, "split": {"test": "x"}}""")]
    [InlineData("""{"label": null, "features": [1, "image"], "split": {"validation": 0.9, "test": 0.2, "seed": 1}}""")]
    [InlineData("""{"split": {"validation": 0.1, "test": 0.01, "seed": 1}}""")]
    [InlineData("""{"split": {"validation": 0.1, "test": 0.2, "seed": -1}}""")]
    public void A_field_of_another_shape_than_a_training_job_writes_is_left_out(string text)
    {
        var record = TrainingRecord.Of(With(text))!;
        Assert.Null(record.Label);
        Assert.Null(record.Features);
        Assert.Null(record.ImageColumn);
        Assert.Null(record.Trainer);
        Assert.Null(record.Split);
    }

    [Fact]
    public void Only_a_single_feature_names_an_image_column() =>
        Assert.Null(TrainingRecord.Of(With("""{"features": ["a", "b"]}"""))!.ImageColumn);
}
