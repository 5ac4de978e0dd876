namespace Maas.Core.Tenancy;

/// <summary>What a tenant still owns, which keeps it from being deleted: for each kind, how many and the first few names.</summary>
public sealed record TenantHoldings
{
    /// <summary>How many names of each kind are listed (the counts are complete).</summary>
    public const int NamesShown = 5;

    /// <summary>Holdings of a tenant that owns nothing.</summary>
    public static TenantHoldings None { get; } = new();

    /// <summary>Models it owns.</summary>
    public HeldItems Models { get; init; } = HeldItems.None;

    /// <summary>Datasets it owns.</summary>
    public HeldItems Datasets { get; init; } = HeldItems.None;

    /// <summary>Deployments it owns.</summary>
    public HeldItems Deployments { get; init; } = HeldItems.None;

    /// <summary>Jobs (imports, training, fine-tuning, optimisation) still queued or running.</summary>
    public HeldItems RunningJobs { get; init; } = HeldItems.None;

    /// <summary>Uploaded fine-tuning files (/v1/files).</summary>
    public HeldItems Files { get; init; } = HeldItems.None;

    /// <summary>Whether it owns nothing.</summary>
    public bool IsEmpty => Models.Count + Datasets.Count + Deployments.Count + RunningJobs.Count + Files.Count == 0;

    /// <summary>"2 models (faces, cars), 1 running job (j-1)": the kinds it holds, for an error message.</summary>
    public string Describe()
    {
        var parts = new List<string>();
        Add(parts, Models, "model", "models");
        Add(parts, Datasets, "dataset", "datasets");
        Add(parts, Deployments, "deployment", "deployments");
        Add(parts, RunningJobs, "queued or running job", "queued or running jobs");
        Add(parts, Files, "fine-tuning file", "fine-tuning files");
        return string.Join(", ", parts);
    }

    private static void Add(List<string> parts, HeldItems items, string one, string many)
    {
        if (items.Count == 0)
        {
            return;
        }

        var more = items.Count > items.Names.Count ? ", ..." : "";
        parts.Add($"{items.Count} {(items.Count == 1 ? one : many)} ({string.Join(", ", items.Names)}{more})");
    }
}
