namespace Maas.Core.Training;

/// <summary>Held-out fractions and the seed of the shuffle; classification splits keep each class's share.</summary>
public sealed record TrainingSplit
{
    /// <summary>The fraction for validation (0 to 0.5).</summary>
    public double Validation { get; init; } = 0.1;

    /// <summary>The fraction for the test evaluation (0.05 to 0.5).</summary>
    public double Test { get; init; } = 0.2;

    /// <summary>The shuffle seed (also the trainers' seed).</summary>
    public int Seed { get; init; } = 42;

    /// <summary>
    /// How many of a group's <paramref name="rows"/> (one class's labelled rows, or every labelled row for regression) go
    /// to validation and to test; the rest train. Each share is rounded, and validation gives way so at least one row
    /// trains. The job splits by this, and submission checks by it that no split it needs is left empty.
    /// </summary>
    public (int Validation, int Test) Counts(int rows)
    {
        var test = (int)Math.Round(rows * Test);
        var validation = (int)Math.Round(rows * Validation);
        if (rows - test - validation < 1)
        {
            validation = Math.Max(0, rows - test - 1);
        }

        return (validation, test);
    }
}
