using Maas.Core.Registry;

namespace Maas.Core.Tenancy;

/// <summary>Who is calling, as authentication established it: a key of a tenant, or the anonymous local developer.</summary>
public sealed class Caller
{
    /// <summary>Creates a caller.</summary>
    public Caller(string? keyId, string? keyPrefix, string keyName, string tenant, IReadOnlyList<string> scopes, IReadOnlyList<string> models)
    {
        KeyId = keyId;
        KeyPrefix = keyPrefix;
        KeyName = keyName;
        Tenant = tenant;
        Scopes = scopes;
        Models = models;
        IsAdmin = scopes.Contains(MaasScopes.Admin);
    }

    /// <summary>The key's id, or null for an anonymous caller.</summary>
    public string? KeyId { get; }

    /// <summary>The key's visible prefix, or null for an anonymous caller.</summary>
    public string? KeyPrefix { get; }

    /// <summary>The key's name ("anonymous" for an anonymous caller).</summary>
    public string KeyName { get; }

    /// <summary>The tenant the caller acts for.</summary>
    public string Tenant { get; }

    /// <summary>The scopes granted.</summary>
    public IReadOnlyList<string> Scopes { get; }

    /// <summary>The key's model patterns (empty: all the tenant can see).</summary>
    public IReadOnlyList<string> Models { get; }

    /// <summary>True when the caller holds the admin scope (sees every tenant's models, usage and audit).</summary>
    public bool IsAdmin { get; }

    /// <summary>True for the anonymous local-development caller.</summary>
    public bool IsAnonymous => KeyId is null;

    /// <summary>The name recorded as "created by" / "who": the key id, or "anonymous".</summary>
    public string Actor => KeyId ?? "anonymous";

    /// <summary>True when the caller may hold <paramref name="anyOf"/> (one of them).</summary>
    public bool Has(params IReadOnlyList<string> anyOf) => MaasScopes.Satisfies(Scopes, anyOf);

    /// <summary>
    /// True when the caller may see and call the model: it is the caller's tenant's or shared (admins see all), and
    /// the key's model patterns allow its name. False means "answer 404 as if it did not exist".
    /// </summary>
    /// <remarks><paramref name="model"/> is the model's name or key; the key's model patterns see <c>owner/name</c>.</remarks>
    public bool CanSee(string model, string owner, ModelVisibility visibility) =>
        (IsAdmin || visibility == ModelVisibility.Shared || string.Equals(owner, Tenant, StringComparison.Ordinal))
        && ModelPatterns.Allows(Models, Qualified(model, owner));

    /// <summary>True when the caller may change the model: it owns it (or is admin), and may see it.</summary>
    public bool CanChange(string model, string owner) =>
        (IsAdmin || string.Equals(owner, Tenant, StringComparison.Ordinal)) && ModelPatterns.Allows(Models, Qualified(model, owner));

    private static string Qualified(string model, string owner) =>
        ModelKeys.Qualified(owner, model.IndexOf('/', StringComparison.Ordinal) is var slash and >= 0 ? model[(slash + 1)..] : model);
}
