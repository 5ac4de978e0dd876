using System.Text.Json;
using Maas.Core.Training;

namespace Maas.Core.Tests.Training;

public sealed class TrainingSearchPlannerTests
{
    private static TrainingSearch Plan(string json, string task = TrainingNames.Multiclass, string trainer = "lightgbm", int max = 50) =>
        TrainingSearchPlanner.Plan(JsonDocument.Parse(json).RootElement, task, trainer, new Dictionary<string, double> { ["leaves"] = 16 }, 42, max);

    [Fact]
    public void A_grid_is_every_combination_with_the_fixed_values_merged_in()
    {
        var search = Plan("""{"space": {"iterations": [10, 20, 20], "learning_rate": {"min": 0.01, "max": 1, "scale": "log", "steps": 3}}}""");
        Assert.Equal("grid", search.Method);
        Assert.Equal("accuracy", search.Metric);
        Assert.True(search.Maximize);
        Assert.Equal(6, search.Trials.Count);
        Assert.All(search.Trials, t => Assert.Equal(16, t["leaves"]));
        Assert.Equal([0.01, 0.1, 1], search.Trials.Select(t => Math.Round(t["learning_rate"], 6)).Distinct().Order());
    }

    [Fact]
    public void A_random_search_is_the_same_for_the_same_seed_and_stays_in_its_ranges()
    {
        const string Json = """{"method": "random", "trials": 20, "seed": 9, "metric": "validation_log_loss", "space": {"iterations": {"min": 5, "max": 50, "integer": true},""" +
            """ "learning_rate": {"min": 0.001, "max": 0.5, "scale": "log"}}}""";
        var first = Plan(Json);
        var second = Plan(Json);
        Assert.Equal(first.Trials.Select(t => t["learning_rate"]), second.Trials.Select(t => t["learning_rate"]));
        Assert.Equal("log_loss", first.Metric);
        Assert.False(first.Maximize);
        Assert.All(first.Trials, t => Assert.InRange(t["iterations"], 5, 50));
        Assert.All(first.Trials, t => Assert.Equal(Math.Round(t["iterations"]), t["iterations"]));
        Assert.All(first.Trials, t => Assert.InRange(t["learning_rate"], 0.001, 0.5));
        Assert.True(first.Trials.Select(t => t["learning_rate"]).Distinct().Count() > 10);
    }

    [Fact]
    public void Bad_spaces_are_refused_with_the_reason()
    {
        Assert.Contains("also given", Assert.Throws<ArgumentException>(() => Plan("""{"space": {"leaves": [2, 4]}}""")).Message);
        Assert.Contains("auc", Assert.Throws<ArgumentException>(() => Plan("""{"space": {"iterations": [2]}, "metric": "auc"}""")).Message);
        Assert.Contains("steps", Assert.Throws<ArgumentException>(() => Plan("""{"method": "grid", "space": {"iterations": {"min": 1, "max": 4}}}""")).Message);
        Assert.Contains("8 points", Assert.Throws<ArgumentException>(() => Plan("""{"space": {"iterations": [1, 2, 3, 4], "learning_rate": [0.1, 0.2]}, "trials": 5}""")).Message);
        Assert.Contains("linear or log",
            Assert.Throws<ArgumentException>(() => Plan("""{"trials": 2, "space": {"learning_rate": {"min": 0.1, "max": 1, "scale": "cubic"}}}""")).Message);
        Assert.Contains("limit of 3", Assert.Throws<ArgumentException>(() => Plan("""{"trials": 4, "method": "random", "space": {"iterations": [1, 2]}}""", max: 3)).Message);
        Assert.Contains("not a whole number", Assert.Throws<ArgumentException>(() => Plan("""{"space": {"iterations": [10, 12.5]}}""")).Message);
        Assert.Contains("search.seed", Assert.Throws<ArgumentException>(() => Plan("""{"space": {"iterations": [1]}, "seed": "x"}""")).Message);
    }

    [Fact]
    public void A_count_drawn_from_a_range_is_a_whole_number_without_saying_integer()
    {
        var search = Plan("""{"method": "random", "trials": 10, "space": {"iterations": {"min": 5, "max": 50}, "min_examples_per_leaf": {"min": 1, "max": 20, "steps": 4}}}""");
        Assert.All(search.Trials, t => Assert.Equal(Math.Round(t["iterations"]), t["iterations"]));
        Assert.All(search.Trials, t => Assert.Equal(Math.Round(t["min_examples_per_leaf"]), t["min_examples_per_leaf"]));
    }
}
