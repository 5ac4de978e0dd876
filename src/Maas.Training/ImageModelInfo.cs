namespace Maas.Training;

/// <summary>How a registered image classifier is called (version metadata "maas.image"): its input, outputs and classes.</summary>
public sealed record ImageModelInfo(string Input, int[] Shape, string LogitsOutput, string ProbabilitiesOutput, IReadOnlyList<string> Classes)
{
    /// <summary>The metadata key it is stored under.</summary>
    public const string MetadataKey = "maas.image";
}
