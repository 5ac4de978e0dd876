namespace Maas.Core.Registry;

/// <summary>
/// The canonical key of a model, which names it across tenants: its plain name for a model of the default tenant,
/// <c>owner/name</c> for a model of any other tenant. Serving, caches, metrics and registry events use it.
/// </summary>
/// <remarks>
/// Model names are unique per owner tenant, as on Hugging Face. The default tenant's models keep their bare names as
/// keys, so a server that never used tenancy sees the same names as before. A caller's own short name is turned into
/// a key once, at the edge (the server's model directory); the registry reads a bare key as the default tenant's.
/// </remarks>
public static class ModelKeys
{
    /// <summary>The longest key: two names and the slash.</summary>
    public const int MaxLength = (2 * RegistryNames.MaxNameLength) + 1;

    /// <summary>The key of <paramref name="owner"/>'s model <paramref name="name"/>.</summary>
    public static string Of(string owner, string name) =>
        string.Equals(owner, Model.DefaultOwner, StringComparison.Ordinal) ? name : owner + "/" + name;

    /// <summary>The name with its owner always written out: <c>owner/name</c>.</summary>
    public static string Qualified(string owner, string name) => owner + "/" + name;

    /// <summary>Splits a key (<c>name</c> or <c>owner/name</c>) into owner and name; false when it is not a valid key.</summary>
    public static bool TrySplit(string? key, out string owner, out string name)
    {
        owner = Model.DefaultOwner;
        name = "";
        if (string.IsNullOrEmpty(key) || key.Length > MaxLength)
        {
            return false;
        }

        var slash = key.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            name = key;
            return RegistryNames.IsValidName(key);
        }

        owner = key[..slash];
        name = key[(slash + 1)..];
        return RegistryNames.IsValidName(owner) && RegistryNames.IsValidName(name);
    }

    /// <summary>True when <paramref name="key"/> is <c>name</c> or <c>owner/name</c> of valid names.</summary>
    public static bool IsValid(string? key) => TrySplit(key, out _, out _);

    /// <summary>Throws <see cref="RegistryException"/> (invalid_name) unless <paramref name="key"/> is valid; returns it canonical.</summary>
    public static string Validate(string? key) =>
        TrySplit(key, out var owner, out var name)
            ? Of(owner, name)
            : throw RegistryException.Invalid(
                "invalid_name",
                $"'{RegistryNames.Shorten(key)}' is not a valid model name: use 'name' or 'tenant/name', each 1 to {RegistryNames.MaxNameLength} characters from a-z, 0-9, '.', " +
                $"'_' and '-', starting with a letter or digit, and no '..'");

    /// <summary>The canonical form of a valid key (<c>default/faces</c> becomes <c>faces</c>); other text comes back as it is.</summary>
    public static string Normalize(string key) => TrySplit(key, out var owner, out var name) ? Of(owner, name) : key;

    /// <summary>
    /// How <paramref name="tenant"/> names the model of <paramref name="key"/>: its short name when the tenant owns it,
    /// else <c>owner/name</c>. Usage records name models this way.
    /// </summary>
    public static string RelativeTo(string key, string tenant) =>
        TrySplit(key, out var owner, out var name)
            ? string.Equals(owner, tenant, StringComparison.Ordinal) ? name : Qualified(owner, name)
            : key;

    /// <summary>
    /// Turns the <c>%2F</c> that ASP.NET Core leaves escaped in a route value into the slash of <c>owner/name</c>;
    /// '%' is no name character, so no valid name changes meaning.
    /// </summary>
    public static string UnescapeSlash(string text) =>
        text.Contains('%', StringComparison.Ordinal)
            ? text.Replace("%2F", "/", StringComparison.Ordinal).Replace("%2f", "/", StringComparison.Ordinal)
            : text;
}
