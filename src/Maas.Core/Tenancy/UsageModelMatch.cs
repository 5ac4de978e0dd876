using Maas.Core.Registry;

namespace Maas.Core.Tenancy;

/// <summary>
/// A model asked for in usage, with every spelling usage rows give it. Usage names a model as each caller's tenant
/// names it: the owner's calls by its short name, other tenants' calls as <c>owner/name</c>. A row matches when its model
/// is <see cref="AsAsked"/>, or is <c>owner/name</c>, or is <see cref="Name"/> in a row of tenant <see cref="Owner"/>.
/// </summary>
/// <param name="AsAsked">The model as the caller wrote it.</param>
/// <param name="Owner">The owner's tenant: the text before the last '/' of the qualified name.</param>
/// <param name="Name">The short name: the text after it.</param>
public sealed record UsageModelMatch(string AsAsked, string Owner, string Name)
{
    /// <summary><c>owner/name</c>.</summary>
    public string Qualified => ModelKeys.Qualified(Owner, Name);

    /// <summary>
    /// The model <paramref name="model"/> asked for by a caller reading <paramref name="tenant"/>'s usage: a name
    /// without '/' is that tenant's own model.
    /// </summary>
    public static UsageModelMatch For(string model, string tenant)
    {
        var qualified = model.Contains('/', StringComparison.Ordinal) ? model : ModelKeys.Qualified(tenant, model);

        // A row's short name has no '/', so only the text after the last one can be it (the query text is not checked).
        var slash = qualified.LastIndexOf('/');
        return new UsageModelMatch(model, qualified[..slash], qualified[(slash + 1)..]);
    }
}
