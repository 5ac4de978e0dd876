namespace Maas.Core.Training;

/// <summary>One input column of a tabular model: its name and whether it is a number or a category.</summary>
public sealed record TabularFeature(string Name, string Type)
{
    /// <summary>A numeric feature (float input; booleans become 0/1; missing values are imputed with the mean).</summary>
    public const string Number = "number";

    /// <summary>A categorical feature (string input, one-hot encoded; unseen values encode as all zeros).</summary>
    public const string Category = "category";
}
