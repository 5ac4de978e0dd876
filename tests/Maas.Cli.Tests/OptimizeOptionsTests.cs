using System.Text.Json;
using Maas.Cli.Commands;

namespace Maas.Cli.Tests;

/// <summary>The options object <c>maas optimize</c> builds from <c>-o name=value</c>.</summary>
public sealed class OptimizeOptionsTests
{
    [Fact]
    public void Options_that_name_a_dataset_a_column_or_a_type_stay_text_however_they_look()
    {
        // A dataset named 2024 and a label column named 1 are valid names: they were sent as numbers, which the server refuses.
        var options = OptimizeCommand.Options(
            "onnx-int8-static",
            null,
            ["calibration=2024", "rows=10", "seed=7", "evaluation.dataset=true", "evaluation.label=1", "reduce_range=false"],
            null,
            null)!;

        Assert.Equal(JsonValueKind.String, options["calibration"].ValueKind);
        Assert.Equal("2024", options["calibration"].GetString());
        Assert.Equal("true", options["evaluation"].GetProperty("dataset").GetString());
        Assert.Equal("1", options["evaluation"].GetProperty("label").GetString());
        Assert.Equal(10, options["rows"].GetInt32()); // numbers and booleans stay what they look like elsewhere
        Assert.Equal(7, options["seed"].GetInt32());
        Assert.Equal(JsonValueKind.False, options["reduce_range"].ValueKind);
    }
}
