namespace Maas.Server.Auth;

/// <summary>
/// What the directory made of a caller's model reference: the decision, the model's <see cref="ModelKeys">key</see>
/// when the caller may see it, and the reference rewritten with that key (what everything after the edge uses).
/// </summary>
/// <param name="Result">The decision.</param>
/// <param name="Key">The model's key (null unless Allowed or ReadOnly).</param>
/// <param name="Reference">The reference with the key for its model part (<c>acme/faces:prod</c>), else the text as given.</param>
/// <param name="NotFoundHint">For a short name that several tenants share: how to name one (it lists only shared models).</param>
public readonly record struct ModelAccess(ModelAccessResult Result, string? Key, string Reference, string? NotFoundHint = null);
