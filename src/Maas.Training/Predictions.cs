namespace Maas.Training;

/// <summary>One model's answers for a set of rows: a value (regression) or a class index with class probabilities.</summary>
internal sealed record Predictions(double[]? Values, int[]? Classes, double[][]? Probabilities)
{
    public int Count => Values?.Length ?? Classes!.Length;
}
