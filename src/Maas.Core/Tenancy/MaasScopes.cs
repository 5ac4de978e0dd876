namespace Maas.Core.Tenancy;

/// <summary>The permissions an API key can carry, and which of them imply which.</summary>
/// <remarks>
/// <c>admin</c> implies every other scope (an operator key can do anything a tenant key can), and
/// <c>models:write</c> implies <c>models:read</c> (a key that can change a model can read it back).
/// </remarks>
public static class MaasScopes
{
    /// <summary>Tenants, keys, usage and audit of every tenant.</summary>
    public const string Admin = "admin";

    /// <summary>Register models, upload versions, move aliases, load and unload (deploy).</summary>
    public const string ModelsWrite = "models:write";

    /// <summary>List and show models, versions, aliases, jobs and statistics.</summary>
    public const string ModelsRead = "models:read";

    /// <summary>Call models: OIP v2 infer, /predict, the OpenAI-compatible API, gRPC ModelInfer.</summary>
    public const string Infer = "infer";

    /// <summary>Create datasets and upload, preview and delete their versions.</summary>
    public const string DatasetsWrite = "datasets:write";

    /// <summary>List and show datasets, their versions, statistics and previews.</summary>
    public const string DatasetsRead = "datasets:read";

    /// <summary>Submit and cancel training jobs (their results are registered into the tenant's models).</summary>
    public const string TrainingWrite = "training:write";

    /// <summary>List and follow training jobs and their events.</summary>
    public const string TrainingRead = "training:read";

    /// <summary>Every scope, in the order they are documented.</summary>
    public static IReadOnlyList<string> All { get; } = [Admin, ModelsWrite, ModelsRead, Infer, DatasetsWrite, DatasetsRead, TrainingWrite, TrainingRead];

    /// <summary>True when <paramref name="scope"/> is one of <see cref="All"/>.</summary>
    public static bool IsKnown(string? scope) => scope is Admin or ModelsWrite or ModelsRead or Infer or DatasetsWrite or DatasetsRead or TrainingWrite or TrainingRead;

    /// <summary>True when a key holding <paramref name="granted"/> may act with <paramref name="required"/>.</summary>
    public static bool Grants(string granted, string required) =>
        granted == required
        || granted == Admin
        || (granted == ModelsWrite && required == ModelsRead)
        || (granted == DatasetsWrite && required == DatasetsRead)
        || (granted == TrainingWrite && required == TrainingRead);

    /// <summary>True when any of <paramref name="granted"/> satisfies any of <paramref name="anyOf"/>.</summary>
    public static bool Satisfies(IReadOnlyList<string> granted, IReadOnlyList<string> anyOf)
    {
        for (var i = 0; i < granted.Count; i++)
        {
            for (var j = 0; j < anyOf.Count; j++)
            {
                if (Grants(granted[i], anyOf[j]))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
