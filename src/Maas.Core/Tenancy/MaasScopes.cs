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

    /// <summary>Every scope, in the order they are documented.</summary>
    public static IReadOnlyList<string> All { get; } = [Admin, ModelsWrite, ModelsRead, Infer];

    /// <summary>True when <paramref name="scope"/> is one of <see cref="All"/>.</summary>
    public static bool IsKnown(string? scope) => scope is Admin or ModelsWrite or ModelsRead or Infer;

    /// <summary>True when a key holding <paramref name="granted"/> may act with <paramref name="required"/>.</summary>
    public static bool Grants(string granted, string required) =>
        granted == required
        || granted == Admin
        || (granted == ModelsWrite && required == ModelsRead);

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
